package audit

import (
	"bytes"
	"context"
	"testing"

	"github.com/imzagate/imzagate/sessions/redistest"
)

func TestSmoke(t *testing.T) {
	srv := redistest.Start(t)
	rdb := clientFor(t, srv.Addr)
	tr := newTrail(t, rdb, func(o *Options) { o.CheckpointEvery = 10 })
	r := start(t, tr)
	ctx := context.Background()
	for i := range 25 {
		if err := tr.Append(ctx, sessionRecord(tr, i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.AppendSync(ctx, adminRecord(1)); err != nil {
		t.Fatal(err)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	rep, err := verifyAll(t, tr)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	_ = rep.WriteText(&out)
	t.Log(out.String())
	exp := exportAll(t, tr)
	t.Log(string(exp[:600]))
	out.Reset()
	if err := VerifyFileReport(&out, bytes.NewReader(exp), tr.PublicKey()); err != nil {
		t.Fatal(err, out.String())
	}
	t.Log(out.String())
}
