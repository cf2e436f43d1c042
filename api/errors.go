package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
)

// Error is an answer for the client: an HTTP status, a stable machine code
// and a human message. Domain handlers map their sentinels to an Error.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf is shorthand for an *Error.
func Errorf(status int, code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message}
}

// Common errors.
var (
	ErrUnauthorized = Errorf(http.StatusUnauthorized, "unauthorized", "a valid bearer token is required")
	ErrForbidden    = Errorf(http.StatusForbidden, "forbidden", "this role may not do that")
	ErrNotFound     = Errorf(http.StatusNotFound, "not_found", "no such resource")
	ErrBadJSON      = Errorf(http.StatusBadRequest, "invalid_json", "the body is not the expected JSON")
	ErrTooLarge     = Errorf(http.StatusRequestEntityTooLarge, "too_large", "the body is too large")
	ErrInternal     = Errorf(http.StatusInternalServerError, "internal", "internal error")
	ErrOverload     = Errorf(http.StatusServiceUnavailable, "overload", "too busy, retry shortly")
)

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// WriteError answers err. An *Error (anywhere in the chain) is written as
// is; anything else is logged and answered 500 "internal" so internal
// text never leaks.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var e *Error
	if !errors.As(err, &e) {
		if log != nil {
			log.Error("api: internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		}
		e = ErrInternal
	}
	var b errorBody
	b.Error.Code, b.Error.Message = e.Code, e.Message
	if e.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, e.Status, b)
}

// WriteJSON answers v with status.
func WriteJSON(w http.ResponseWriter, status int, v any) { writeJSON(w, status, v) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// MaxBody is the largest JSON body the API reads.
const MaxBody = 64 << 10

// DecodeJSON reads r's body into v strictly: one JSON value and nothing
// after it, no unknown fields, no object naming a field twice (in any
// letter case: encoding/json matches names case-insensitively and keeps
// the last, so {"account_id":"r1","Account_ID":"r2"} would pay r2), at
// most MaxBody bytes. Its errors are *Error values.
func DecodeJSON(r *http.Request, v any) error {
	raw, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return ErrTooLarge
		}
		return ErrBadJSON
	}
	if err := uniqueNames(raw); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) && ute.Field != "" {
			return Errorf(http.StatusBadRequest, "invalid_json", "field "+ute.Field+" has the wrong type")
		}
		return ErrBadJSON
	}
	if _, err := dec.Token(); err != io.EOF {
		return Errorf(http.StatusBadRequest, "invalid_json", "data after the JSON value")
	}
	return nil
}

// uniqueNames refuses a JSON text whose first value has an object, at any
// depth, that names a field twice, compared without letter case. What
// follows the first value is DecodeJSON's to refuse.
func uniqueNames(raw []byte) error {
	type frame struct {
		object  bool
		wantKey bool
		names   map[string]struct{}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var stack []frame
	// valueDone marks the enclosing object's value as read.
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].wantKey = true
		}
	}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return ErrBadJSON
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, frame{object: true, wantKey: true})
			case '[':
				stack = append(stack, frame{})
			default: // '}' or ']'
				stack = stack[:len(stack)-1]
				valueDone()
			}
			if len(stack) == 0 {
				return nil
			}
		case string:
			if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].wantKey {
				f := &stack[n-1]
				name := strings.ToLower(t)
				if _, dup := f.names[name]; dup {
					return Errorf(http.StatusBadRequest, "invalid_json", "field "+strconv.Quote(t)+" is named twice")
				}
				if f.names == nil {
					f.names = make(map[string]struct{})
				}
				f.names[name] = struct{}{}
				f.wantKey = false
				continue
			}
			valueDone()
		default:
			valueDone()
		}
		if len(stack) == 0 {
			return nil // a scalar at the top
		}
	}
}
