package sqlite

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strings"
	"unsafe"

	"ipcs/ledger"
)

// wconn is the writer's connection, used below database/sql: the writer
// goroutine is its only user (it holds it through sql.Conn.Raw for the
// Store's lifetime), so statements are prepared once, kept in a plain
// map and run without database/sql's locks, conversions and per-call
// allocations. Statements run under context.Background: a context that
// can be canceled makes the driver start a watcher goroutine per
// statement, and the writer's statements belong to no single caller.
type wconn struct {
	conn  driver.ConnPrepareContext
	stmts map[string]*wstmt
	// byText finds a statement by its query's bytes, so that the
	// ledger's constant queries (hundreds of bytes) are found without
	// hashing their text; each hit is confirmed by comparing the text,
	// which is one pointer comparison when it is the same constant.
	byText map[*byte]*wstmt
	args   []driver.NamedValue // reused argument buffer
	vals   []driver.Value      // reused row buffer
	tx     wtx                 // reused by every operation (fn must not keep its tx)
}

type wstmt struct {
	q     string
	st    driver.Stmt
	exec  driver.StmtExecContext
	query driver.StmtQueryContext
	// write is false for a plain SELECT: running it cannot change the
	// database, so a failure after it needs no rollback.
	write bool
}

func newWConn(dc any) (*wconn, error) {
	c, ok := dc.(driver.ConnPrepareContext)
	if !ok {
		return nil, fmt.Errorf("ledger/sqlite: driver connection %T cannot prepare with a context", dc)
	}
	return &wconn{conn: c, stmts: map[string]*wstmt{}, byText: map[*byte]*wstmt{}}, nil
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
	st, err := c.conn.PrepareContext(context.Background(), q)
	if err != nil {
		return nil, err
	}
	ex, ok1 := st.(driver.StmtExecContext)
	qu, ok2 := st.(driver.StmtQueryContext)
	if !ok1 || !ok2 {
		st.Close()
		return nil, fmt.Errorf("ledger/sqlite: driver statement %T lacks context methods", st)
	}
	head := strings.ToUpper(strings.TrimSpace(q))
	s := &wstmt{q: q, st: st, exec: ex, query: qu, write: !strings.HasPrefix(head, "SELECT")}
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

func (c *wconn) bind(args []any) ([]driver.NamedValue, error) {
	a := c.args[:0]
	for i, v := range args {
		switch v.(type) {
		case int64, string, nil, []byte:
		default:
			cv, err := driver.DefaultParameterConverter.ConvertValue(v)
			if err != nil {
				return nil, fmt.Errorf("ledger/sqlite: argument %d: %w", i+1, err)
			}
			v = cv
		}
		a = append(a, driver.NamedValue{Ordinal: i + 1, Value: v})
	}
	c.args = a
	return a, nil
}

// exec runs a statement that returns no rows, and the rows it changed.
func (c *wconn) exec(q string, args ...any) (int64, error) {
	s, err := c.stmt(q)
	if err != nil {
		return 0, err
	}
	a, err := c.bind(args)
	if err != nil {
		return 0, err
	}
	res, err := s.exec.ExecContext(context.Background(), a)
	clear(c.args)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// newTx returns the Tx of the next operation. It is the same value for
// every operation: the writer runs one at a time, and ledger.Store's
// contract forbids fn to keep tx after it returns.
func (c *wconn) newTx() *wtx {
	c.tx = wtx{c: c}
	return &c.tx
}

func (c *wconn) close() {
	for q, s := range c.stmts {
		s.st.Close()
		delete(c.stmts, q)
	}
	clear(c.byText)
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
	s, err := t.c.stmt(q)
	if err != nil {
		return errRow{err}
	}
	a, err := t.c.bind(args)
	if err != nil {
		return errRow{err}
	}
	rows, err := s.query.QueryContext(context.Background(), a)
	clear(t.c.args)
	if err != nil {
		if s.write {
			t.dirty = true
		}
		return errRow{err}
	}
	return &wrow{t: t, s: s, rows: rows}
}

func (t *wtx) Query(_ context.Context, q string, args ...any) (ledger.Rows, error) {
	s, err := t.c.stmt(q)
	if err != nil {
		return nil, err
	}
	if s.write {
		// UPDATE … RETURNING changes every row at the first step.
		t.dirty = true
	}
	a, err := t.c.bind(args)
	if err != nil {
		return nil, err
	}
	rows, err := s.query.QueryContext(context.Background(), a)
	clear(t.c.args)
	if err != nil {
		return nil, err
	}
	return &wrows{c: t.c, rows: rows}, nil
}

// wrow is QueryRow's result; Scan reads the first row and resets the
// statement.
type wrow struct {
	t    *wtx
	s    *wstmt
	rows driver.Rows
}

func (r *wrow) Scan(dest ...any) error {
	defer r.rows.Close()
	vals := r.t.c.values(len(r.rows.Columns()))
	err := r.rows.Next(vals)
	if err == io.EOF {
		return ledger.ErrNoRow
	}
	if r.s.write {
		r.t.dirty = true
	}
	if err != nil {
		return err
	}
	return assign(dest, vals)
}

type wrows struct {
	c    *wconn
	rows driver.Rows
	vals []driver.Value
	err  error
}

func (r *wrows) Next() bool {
	if r.err != nil {
		return false
	}
	r.vals = make([]driver.Value, len(r.rows.Columns()))
	err := r.rows.Next(r.vals)
	if err != nil {
		if err != io.EOF {
			r.err = err
		}
		return false
	}
	return true
}

func (r *wrows) Scan(dest ...any) error { return assign(dest, r.vals) }
func (r *wrows) Err() error             { return r.err }
func (r *wrows) Close()                 { r.rows.Close() }

func (c *wconn) values(n int) []driver.Value {
	if cap(c.vals) < n {
		c.vals = make([]driver.Value, n)
	}
	v := c.vals[:n]
	clear(v)
	return v
}

// assign copies a row's values into the ledger's scan targets: *string,
// *int64, *int and *bool (what the ledger scans); NULL scans as zero.
func assign(dest []any, vals []driver.Value) error {
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
