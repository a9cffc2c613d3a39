package gateway

import (
	"net/http"
	"path"
	"strings"
)

// cleanPaths answers a request whose path is not in canonical form
// ("/v1//sessions", "/v1/./x", "//v1/x", "/v1/a/../b", a trailing slash)
// with a problem+json 404 itself. The standard mux would redirect it with
// an HTML page, and every answer of the API is problem+json or JSON.
func (s *Server) cleanPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; strings.HasPrefix(p, "/") && path.Clean(p) != p {
			s.writeError(w, r, &Error{Code: CodeNotFound, Detail: "no such endpoint (the path is not in canonical form)"})
			return
		}
		next.ServeHTTP(w, r)
	})
}
