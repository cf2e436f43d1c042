package sqlite

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"ipcs/ledger"
)

// wconn is the writer's connection (rawconn.go): the writer goroutine is
// its only user, so statements are prepared once, kept in a plain map
// and run without locks, conversions or per-call allocations.
type wconn struct {
	rc    *rconn
	stmts map[string]*wstmt
	// byText finds a statement by its query's bytes, so that the
	// ledger's constant queries (hundreds of bytes) are found without
	// hashing their text; each hit is confirmed by comparing the text,
	// which is one pointer comparison when it is the same constant.
	byText map[*byte]*wstmt
	vals   []any // reused row buffer
	tx     wtx   // reused by every operation (fn must not keep its tx)
}

type wstmt struct {
	q  string
	st *rstmt
	// write is false for a plain SELECT: running it cannot change the
	// database, so a failure after it needs no rollback.
	write bool
	// open is set while a Query's rows are being read; the statement
	// cannot run again until they are closed.
	open bool
}

func newWConn(rc *rconn) *wconn {
	return &wconn{rc: rc, stmts: map[string]*wstmt{}, byText: map[*byte]*wstmt{}}
}

// maxByText bounds byText: a query built at run time would add an entry
// per call; past the bound it is emptied (statements stay in stmts).
const maxByText = 1024

func (c *wconn) stmt(q string) (*wstmt, error) {
	p := unsafe.StringData(q)
	if s, ok := c.byText[p]; ok && s.q == q {
		return s, nil
	}
	if s, ok := c.stmts[q]; ok {
		c.remember(p, s)
		return s, nil
	}
	st, err := c.rc.prepare(q)
	if err != nil {
		return nil, err
	}
	head := strings.ToUpper(strings.TrimSpace(q))
	s := &wstmt{q: q, st: st, write: !strings.HasPrefix(head, "SELECT")}
	c.stmts[q] = s
	c.remember(p, s)
	return s, nil
}

func (c *wconn) remember(p *byte, s *wstmt) {
	if len(c.byText) >= maxByText {
		clear(c.byText)
	}
	c.byText[p] = s
}

// prepared returns q's statement with args bound.
func (c *wconn) prepared(q string, args []any) (*wstmt, error) {
	s, err := c.stmt(q)
	if err != nil {
		return nil, err
	}
	if s.open {
		return nil, fmt.Errorf("ledger/sqlite: %q run again before its rows were closed", q)
	}
	if err := s.st.bind(args); err != nil {
		return nil, err
	}
	return s, nil
}

// exec runs a statement to completion, and returns the rows it changed.
func (c *wconn) exec(q string, args ...any) (int64, error) {
	s, err := c.prepared(q, args)
	if err != nil {
		return 0, err
	}
	return s.st.run()
}

// newTx returns the Tx of the next operation. It is the same value for
// every operation: the writer runs one at a time, and ledger.Store's
// contract forbids fn to keep tx after it returns.
func (c *wconn) newTx() *wtx {
	c.tx = wtx{c: c}
	return &c.tx
}

// close finalizes the statements and closes the connection.
func (c *wconn) close() {
	for q, s := range c.stmts {
		s.st.finalize()
		delete(c.stmts, q)
	}
	clear(c.byText)
	c.rc.close()
}

// wtx is the ledger.Tx of one operation inside a batch. dirty records
// whether the operation may have changed the database: an operation that
// fails before it writes needs no savepoint to be undone.
type wtx struct {
	c     *wconn
	dirty bool
}

func (t *wtx) Exec(_ context.Context, q string, args ...any) (int64, error) {
	n, err := t.c.exec(q, args...)
	if err != nil || n > 0 {
		// A failed statement is undone by SQLite, but count it as a write
		// anyway: the operation's earlier statements may have written.
		t.dirty = true
	}
	return n, err
}

func (t *wtx) QueryRow(_ context.Context, q string, args ...any) ledger.Row {
	s, err := t.c.prepared(q, args)
	if err != nil {
		return errRow{err}
	}
	row, err := s.st.step()
	if err != nil {
		s.st.reset()
		if s.write {
			t.dirty = true
		}
		return errRow{err}
	}
	if !row {
		s.st.reset()
		return errRow{ledger.ErrNoRow}
	}
	if s.write {
		t.dirty = true
	}
	vals := t.c.values(s.st.cols)
	s.st.row(vals)
	s.st.reset()
	return valRow(vals)
}

func (t *wtx) Query(_ context.Context, q string, args ...any) (ledger.Rows, error) {
	s, err := t.c.prepared(q, args)
	if err != nil {
		return nil, err
	}
	if s.write {
		// UPDATE … RETURNING changes every row at the first step.
		t.dirty = true
	}
	s.open = true
	return &wrows{s: s}, nil
}

// valRow is QueryRow's first row, read before the statement was reset;
// it is good until the writer's next QueryRow.
type valRow []any

func (r valRow) Scan(dest ...any) error { return assign(dest, r) }

type wrows struct {
	s      *wstmt
	vals   []any
	err    error
	done   bool
	closed bool
}

func (r *wrows) Next() bool {
	if r.err != nil || r.done {
		return false
	}
	row, err := r.s.st.step()
	if err != nil {
		r.err = err
	}
	if !row {
		r.done = true
		return false
	}
	r.vals = make([]any, r.s.st.cols)
	r.s.st.row(r.vals)
	return true
}

func (r *wrows) Scan(dest ...any) error { return assign(dest, r.vals) }
func (r *wrows) Err() error             { return r.err }

func (r *wrows) Close() {
	if !r.closed {
		r.closed = true
		r.s.st.reset()
		r.s.open = false
	}
}

func (c *wconn) values(n int) []any {
	if cap(c.vals) < n {
		c.vals = make([]any, n)
	}
	v := c.vals[:n]
	clear(v)
	return v
}

// assign copies a row's values into the ledger's scan targets: *string,
// *int64, *int and *bool (what the ledger scans); NULL scans as zero.
func assign(dest []any, vals []any) error {
	if len(dest) != len(vals) {
		return fmt.Errorf("ledger/sqlite: scan: %d targets for %d columns", len(dest), len(vals))
	}
	for i, d := range dest {
		v := vals[i]
		switch d := d.(type) {
		case *string:
			switch v := v.(type) {
			case string:
				*d = v
			case []byte:
				*d = string(v)
			case nil:
				*d = ""
			default:
				return fmt.Errorf("ledger/sqlite: scan column %d: %T into *string", i, v)
			}
		case *int64:
			switch v := v.(type) {
			case int64:
				*d = v
			case nil:
				*d = 0
			default:
				return fmt.Errorf("ledger/sqlite: scan column %d: %T into *int64", i, v)
			}
		case *int:
			n, ok := v.(int64)
			if !ok && v != nil {
				return fmt.Errorf("ledger/sqlite: scan column %d: %T into *int", i, v)
			}
			*d = int(n)
		case *bool:
			n, ok := v.(int64)
			if !ok && v != nil {
				return fmt.Errorf("ledger/sqlite: scan column %d: %T into *bool", i, v)
			}
			*d = n != 0
		default:
			return errors.New("ledger/sqlite: scan: unsupported target type")
		}
	}
	return nil
}
