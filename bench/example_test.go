package bench_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/imzagate/imzagate/bench"
)

// A portal API that completes every session at once, to show the flow:
// Run drives it, WriteTable prints the report.
func ExampleRun() {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/authentications", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"sessionId":"s1","verificationCode":"0042"}`)
	})
	mux.HandleFunc("GET /v1/sessions/{id}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"state":"COMPLETE","result":"OK"}`)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	res, err := bench.Run(context.Background(), bench.Options{
		Target:      srv.URL,
		APIKey:      "example-key",
		Users:       []bench.User{{Phone: "+994501234567", UserID: "123456"}},
		Concurrency: 1,
		Duration:    200 * time.Millisecond,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	fmt.Println(res.Mode, res.Completed > 0, res.Failed)
	// Output: closed true 0
}
