package bulk_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/imzagate/imzagate/sessions"
	"github.com/imzagate/imzagate/sessions/bulk"
	"github.com/imzagate/imzagate/sessions/embedded"
)

// Import a bulk file into a store (here the embedded Redis) with a
// progress bar; a real tool passes os.Stderr instead of io.Discard.
func ExampleImportFile() {
	dir, _ := os.MkdirTemp("", "bulk")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "subscribers.jsonl")
	_ = os.WriteFile(path, []byte(
		`{"phone":"+994501234567","iccid":"8999401234567890123","user_id":"123456","key_version":1,"operator":"azercell"}`+"\n"+
			`{"phone":"+994551234567","iccid":"8999401234567890124","user_id":"654321","key_version":1,"operator":"bakcell"}`+"\n"), 0o600)

	srv, err := embedded.Start()
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	store, err := sessions.New(srv.Client(), sessions.Options{Pepper: []byte("example pepper, 32 bytes long...")})
	if err != nil {
		panic(err)
	}
	defer store.Close()

	n, err := bulk.ImportFile(context.Background(), store, path, io.Discard)
	fmt.Println(n, err)
	_, err = store.CheckUserID(context.Background(), "+994551234567", "654321")
	fmt.Println(err)
	// Output:
	// 2 <nil>
	// <nil>
}
