// Package bulk runs a subscriber import from a file with a progress bar, for
// the admin tools in cmd/. The file format is the JSON-lines format of
// sessions.Store.ImportSubscribers.
//
// Flow:
//
//	n, err := bulk.ImportFile(ctx, store, "subscribers.jsonl", os.Stderr)
//
// ImportFile counts the file's lines first (a fast sequential read), so the
// bar can show a percentage, then streams the file into the store, redrawing
// one terminal line at most ten times a second:
//
//	[==============>               ]  48.2%   241000/500000   112.4k/s
package bulk
