// Package web serves the family and kiosk pages of ipcs: plain HTML, CSS
// and JavaScript embedded with embed, no build step. Each page is its own
// file under static/ (index.html is the family page; visit.html and
// kiosk.html join visits), so a page can be added by dropping a file in.
//
// The pages talk only to the JSON API under /api/v1 and keep the session
// token in sessionStorage.
package web

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// FS returns the embedded pages, rooted at static/.
func FS() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		// fs.Sub fails only for an invalid path, and "static" is valid.
		return static
	}
	return sub
}

// Handler serves the embedded pages at "/" with a strict content
// security policy: scripts and styles come only from this origin.
func Handler() http.Handler {
	files := http.FileServerFS(FS())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; media-src 'self' blob: mediastream:; img-src 'self' data:; frame-ancestors 'none'")
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
