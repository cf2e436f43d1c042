package sqlite

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// The writer's connection is opened on the SQLite library itself
// (modernc.org/sqlite/lib, the same pure-Go SQLite that the driver
// registered as "sqlite" runs), not through the driver. The driver opens
// every connection in serialized mode (SQLITE_OPEN_FULLMUTEX), looks up
// each parameter's name, copies each text argument into memory it
// allocates and frees around every statement, and reads the last insert
// id after each one; for the writer, which runs about eight short
// statements per reserve and commit, that was a fifth of its time
// (docs/PERFORMANCE.md, "Ledger"). rconn opens the connection with
// SQLITE_OPEN_NOMUTEX (one goroutine, the writer, ever uses it), binds
// parameters by position, and binds text from a buffer of its own per
// statement (SQLITE_STATIC), reused from one run to the next.

// rconn is one SQLite connection used by one goroutine at a time.
type rconn struct {
	tls *libc.TLS
	db  uintptr
	out uintptr // two pointer-sized out-parameters, in SQLite's memory
}

const ptrSize = int(unsafe.Sizeof(uintptr(0)))

// openRaw opens the database file at path (which must exist) and runs
// pragmas on it.
func openRaw(path string, pragmas ...string) (*rconn, error) {
	tls := libc.NewTLS()
	c := &rconn{tls: tls}
	c.out = sqlite3.Xsqlite3_malloc64(tls, uint64(2*ptrSize))
	if c.out == 0 {
		tls.Close()
		return nil, fmt.Errorf("ledger/sqlite: open %s: out of memory", path)
	}
	name, err := libc.CString(path)
	if err != nil {
		sqlite3.Xsqlite3_free(tls, c.out)
		tls.Close()
		return nil, fmt.Errorf("ledger/sqlite: open %s: %w", path, err)
	}
	rc := sqlite3.Xsqlite3_open_v2(tls, name, c.out, sqlite3.SQLITE_OPEN_READWRITE|sqlite3.SQLITE_OPEN_NOMUTEX, 0)
	libc.Xfree(tls, name)
	c.db = c.ptr(0)
	if rc != sqlite3.SQLITE_OK {
		err := fmt.Errorf("ledger/sqlite: open %s: %w", path, c.err(rc))
		c.close()
		return nil, err
	}
	sqlite3.Xsqlite3_extended_result_codes(tls, c.db, 1)
	for _, p := range pragmas {
		if err := c.execOnce(p); err != nil {
			c.close()
			return nil, fmt.Errorf("ledger/sqlite: %s: %w", p, err)
		}
	}
	return c, nil
}

// ptr reads out-parameter i.
func (c *rconn) ptr(i int) uintptr {
	b := libc.GoBytes(c.out+uintptr(i*ptrSize), ptrSize)
	if ptrSize == 8 {
		return uintptr(binary.NativeEndian.Uint64(b))
	}
	return uintptr(binary.NativeEndian.Uint32(b))
}

// sqliteError is a SQLite result code and the connection's message.
type sqliteError struct {
	code int32
	msg  string
}

func (e *sqliteError) Error() string { return fmt.Sprintf("%s (%d)", e.msg, e.code) }

func (c *rconn) err(rc int32) error {
	msg := ""
	if c.db != 0 {
		msg = libc.GoString(sqlite3.Xsqlite3_errmsg(c.tls, c.db))
	} else {
		msg = libc.GoString(sqlite3.Xsqlite3_errstr(c.tls, rc))
	}
	return &sqliteError{code: rc, msg: msg}
}

// execOnce prepares, runs to completion and finalizes q.
func (c *rconn) execOnce(q string) error {
	s, err := c.prepare(q)
	if err != nil {
		return err
	}
	defer s.finalize()
	if err := s.bind(nil); err != nil {
		return err
	}
	_, err = s.run()
	return err
}

func (c *rconn) changes() int64 { return sqlite3.Xsqlite3_changes64(c.tls, c.db) }

func (c *rconn) close() {
	if c.db != 0 {
		sqlite3.Xsqlite3_close_v2(c.tls, c.db)
		c.db = 0
	}
	if c.out != 0 {
		sqlite3.Xsqlite3_free(c.tls, c.out)
		c.out = 0
	}
	c.tls.Close()
}

// rstmt is a prepared statement of an rconn.
type rstmt struct {
	c      *rconn
	p      uintptr
	params int
	cols   int
	// buf holds the statement's text and blob arguments while it runs:
	// SQLite reads them in place (SQLITE_STATIC), and every run binds
	// every parameter again before it steps.
	buf    uintptr
	bufCap int
}

// minBuf is a statement's first argument buffer; it is never empty, so
// that an empty string binds as ” (a NULL pointer would bind NULL).
const minBuf = 256

func (c *rconn) prepare(q string) (*rstmt, error) {
	z, err := libc.CString(q)
	if err != nil {
		return nil, err
	}
	defer libc.Xfree(c.tls, z)
	rc := sqlite3.Xsqlite3_prepare_v3(c.tls, c.db, z, -1, sqlite3.SQLITE_PREPARE_PERSISTENT, c.out, c.out+uintptr(ptrSize))
	if rc != sqlite3.SQLITE_OK {
		return nil, c.err(rc)
	}
	s := &rstmt{c: c, p: c.ptr(0)}
	if s.p == 0 {
		return nil, fmt.Errorf("ledger/sqlite: no statement in %q", q)
	}
	if tail := libc.GoString(c.ptr(1)); strings.TrimSpace(tail) != "" {
		s.finalize()
		return nil, fmt.Errorf("ledger/sqlite: more than one statement in %q", q)
	}
	s.params = int(sqlite3.Xsqlite3_bind_parameter_count(c.tls, s.p))
	s.cols = int(sqlite3.Xsqlite3_column_count(c.tls, s.p))
	if err := s.grow(minBuf); err != nil {
		s.finalize()
		return nil, err
	}
	return s, nil
}

func (s *rstmt) grow(n int) error {
	if n <= s.bufCap {
		return nil
	}
	n = max(n, 2*s.bufCap)
	p := sqlite3.Xsqlite3_malloc64(s.c.tls, uint64(n))
	if p == 0 {
		return fmt.Errorf("ledger/sqlite: out of memory for %d bytes of arguments", n)
	}
	if s.buf != 0 {
		sqlite3.Xsqlite3_free(s.c.tls, s.buf)
	}
	s.buf, s.bufCap = p, n
	return nil
}

// bind binds args to the statement's parameters by position (?N is
// args[N-1]): int64, int, bool, float64, string, []byte or nil.
func (s *rstmt) bind(args []any) error {
	if len(args) != s.params {
		return fmt.Errorf("ledger/sqlite: %d arguments for %d parameters", len(args), s.params)
	}
	need := 0
	for _, a := range args {
		switch v := a.(type) {
		case string:
			need += len(v)
		case []byte:
			need += len(v)
		}
	}
	if err := s.grow(need); err != nil {
		return err
	}
	tls, off := s.c.tls, 0
	// text copies v into the buffer and returns where it starts.
	text := func(v string) uintptr {
		p := s.buf + uintptr(off)
		copy(libc.GoBytes(p, len(v)), v)
		off += len(v)
		return p
	}
	for i, a := range args {
		n := int32(i + 1)
		var rc int32
		switch v := a.(type) {
		case int64:
			rc = sqlite3.Xsqlite3_bind_int64(tls, s.p, n, v)
		case int:
			rc = sqlite3.Xsqlite3_bind_int64(tls, s.p, n, int64(v))
		case bool:
			b := int64(0)
			if v {
				b = 1
			}
			rc = sqlite3.Xsqlite3_bind_int64(tls, s.p, n, b)
		case float64:
			rc = sqlite3.Xsqlite3_bind_double(tls, s.p, n, v)
		case string:
			if len(v) > math.MaxInt32 {
				return fmt.Errorf("ledger/sqlite: argument %d too long", n)
			}
			rc = sqlite3.Xsqlite3_bind_text(tls, s.p, n, text(v), int32(len(v)), 0)
		case []byte:
			if v == nil {
				rc = sqlite3.Xsqlite3_bind_null(tls, s.p, n)
				break
			}
			if len(v) > math.MaxInt32 {
				return fmt.Errorf("ledger/sqlite: argument %d too long", n)
			}
			rc = sqlite3.Xsqlite3_bind_blob(tls, s.p, n, text(string(v)), int32(len(v)), 0)
		case nil:
			rc = sqlite3.Xsqlite3_bind_null(tls, s.p, n)
		default:
			return fmt.Errorf("ledger/sqlite: argument %d: unsupported type %T", n, a)
		}
		if rc != sqlite3.SQLITE_OK {
			return s.c.err(rc)
		}
	}
	return nil
}

// step runs the statement to its next row: true with a row, false when
// it is done.
func (s *rstmt) step() (bool, error) {
	switch rc := sqlite3.Xsqlite3_step(s.c.tls, s.p); rc {
	case sqlite3.SQLITE_ROW:
		return true, nil
	case sqlite3.SQLITE_DONE:
		return false, nil
	default:
		return false, s.c.err(rc)
	}
}

// run steps the bound statement to completion (an UPDATE … RETURNING
// does all its work at the first step; the rows are dropped), resets it
// and returns the rows it changed.
func (s *rstmt) run() (int64, error) {
	for {
		row, err := s.step()
		if err != nil {
			s.reset()
			return 0, err
		}
		if !row {
			break
		}
	}
	n := s.c.changes()
	s.reset()
	return n, nil
}

// row copies the current row's columns into vals (len s.cols):
// int64, float64, string, []byte or nil.
func (s *rstmt) row(vals []any) {
	tls := s.c.tls
	for i := range vals {
		n := int32(i)
		switch sqlite3.Xsqlite3_column_type(tls, s.p, n) {
		case sqlite3.SQLITE_INTEGER:
			vals[i] = sqlite3.Xsqlite3_column_int64(tls, s.p, n)
		case sqlite3.SQLITE_FLOAT:
			vals[i] = sqlite3.Xsqlite3_column_double(tls, s.p, n)
		case sqlite3.SQLITE_TEXT:
			p := sqlite3.Xsqlite3_column_text(tls, s.p, n)
			vals[i] = string(libc.GoBytes(p, int(sqlite3.Xsqlite3_column_bytes(tls, s.p, n))))
		case sqlite3.SQLITE_BLOB:
			p := sqlite3.Xsqlite3_column_blob(tls, s.p, n)
			vals[i] = []byte(string(libc.GoBytes(p, int(sqlite3.Xsqlite3_column_bytes(tls, s.p, n)))))
		default:
			vals[i] = nil
		}
	}
}

func (s *rstmt) reset() { sqlite3.Xsqlite3_reset(s.c.tls, s.p) }

func (s *rstmt) finalize() {
	if s.p != 0 {
		sqlite3.Xsqlite3_finalize(s.c.tls, s.p)
		s.p = 0
	}
	if s.buf != 0 {
		sqlite3.Xsqlite3_free(s.c.tls, s.buf)
		s.buf, s.bufCap = 0, 0
	}
}
