package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"ipcs/internal/money"
	"ipcs/ledger"
)

// LedgerHandler serves the debit ledger under /api/v1: deposits, trust
// transfers, balances and statements, credits, release refunds and CDRs.
// docs/LEDGER.md documents every route with examples.
type LedgerHandler struct {
	l    *ledger.Ledger
	auth *Auth
	log  *slog.Logger
	// funded, if set, is told of every account that gained money (a
	// deposit, trust transfer or credit), so live sessions extend.
	funded func(accountID string)
}

// OnFunded sets a function told of every account that gained money, so
// a call or visit in progress can extend its reservation at once.
func (h *LedgerHandler) OnFunded(f func(accountID string)) { h.funded = f }

func (h *LedgerHandler) notifyFunded(accountID string) {
	if h.funded != nil {
		h.funded(accountID)
	}
}

// NewLedgerHandler returns the handler; log may be nil.
func NewLedgerHandler(l *ledger.Ledger, auth *Auth, log *slog.Logger) *LedgerHandler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &LedgerHandler{l: l, auth: auth, log: log.With("component", "api")}
}

// Register mounts the ledger routes on mux.
func (h *LedgerHandler) Register(mux *Mux) {
	mux.Route("POST /api/v1/deposits", h.auth.Require(h.deposit, RoleFamily, RoleAdmin))
	mux.Route("POST /api/v1/accounts/{id}/trust-transfers", h.auth.Require(h.transfer, RoleAdmin))
	mux.Route("GET /api/v1/accounts/{id}/balance", h.auth.Require(h.balance, RoleKiosk, RoleAdmin))
	mux.Route("GET /api/v1/accounts/{id}/statement", h.auth.Require(h.statement, RoleKiosk, RoleAdmin))
	mux.Route("POST /api/v1/accounts/{id}/credits", h.auth.Require(h.credit, RoleAdmin))
	mux.Route("POST /api/v1/accounts/{id}/refunds", h.auth.Require(h.refund, RoleAdmin))
	mux.Route("GET /api/v1/cdrs", h.auth.Require(h.cdrs, RoleAdmin))
}

// Ledger error codes; docs/LEDGER.md lists them.
var (
	errInvalidAmount   = Errorf(http.StatusBadRequest, "invalid_amount", "amount must be a decimal string with at most 2 places, above 0.00 and at most 100000.00")
	errInvalidKey      = Errorf(http.StatusBadRequest, "invalid_idempotency_key", "an idempotency key of 1-128 printable characters is required (Idempotency-Key header or idempotency_key), the same in both if both are given")
	errInvalidAccount  = Errorf(http.StatusBadRequest, "invalid_account", "account ids are 1-128 characters of A-Z a-z 0-9 . _ -")
	errInvalidLedgerQ  = Errorf(http.StatusBadRequest, "invalid_query", "since and until are RFC 3339 instants; after and limit are whole numbers")
	errInvalidLedgerRq = Errorf(http.StatusBadRequest, "invalid_request", "the request is not valid")
)

// ledgerError maps the ledger's sentinels to answers, in one place;
// anything else stays internal (500).
func ledgerError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ledger.ErrInsufficientFunds):
		return Errorf(http.StatusConflict, "insufficient_funds", "the balance does not cover that")
	case errors.Is(err, ledger.ErrPerTransactionLimit):
		return Errorf(http.StatusUnprocessableEntity, "per_transaction_limit", "the deposit is above the facility's per-transaction limit")
	case errors.Is(err, ledger.ErrWeeklyLimit):
		return Errorf(http.StatusConflict, "weekly_limit", "the deposit would exceed the resident's weekly deposit limit")
	case errors.Is(err, ledger.ErrIdempotencyConflict):
		return Errorf(http.StatusConflict, "idempotency_conflict", "that idempotency key was used for a different request")
	case errors.Is(err, ledger.ErrAccountReleased):
		return Errorf(http.StatusConflict, "account_released", "the resident has been released")
	case errors.Is(err, ledger.ErrAccountActive):
		return Errorf(http.StatusConflict, "account_active", "the resident has not been released")
	case errors.Is(err, ledger.ErrRefundWindow):
		return Errorf(http.StatusConflict, "refund_window", "release refunds are paid from 30 days to 12 months after release")
	case errors.Is(err, ledger.ErrNotFound):
		return ErrNotFound
	case errors.Is(err, ledger.ErrInvalid):
		return errInvalidLedgerRq
	case errors.Is(err, ledger.ErrOverload), errors.Is(err, ledger.ErrRetry):
		return ErrOverload
	}
	return err
}

func (h *LedgerHandler) fail(w http.ResponseWriter, r *http.Request, err error) {
	WriteError(w, r, h.log, ledgerError(err))
}

// ParseAmount reads an amount from outside input: a decimal string with
// at most 2 places, above zero and at most ledger.MaxAmount. Everything
// else (more places, zero, negative, exponents, blanks, absurd values)
// is refused before the ledger sees it.
func ParseAmount(s string) (money.Amount, error) {
	a, err := money.Parse(s, 2)
	if err != nil || a <= 0 || a > ledger.MaxAmount {
		return 0, errInvalidAmount
	}
	return a, nil
}

func validAccountID(s string) bool { return isIDString(s, 128) }

// idempotencyKey takes the key from the Idempotency-Key header or the
// body and namespaces it by operation and principal, so that one
// caller's keys never collide with another's.
func idempotencyKey(r *http.Request, body, op string, p Principal) (string, error) {
	k := r.Header.Get("Idempotency-Key")
	if k == "" {
		k = body
	} else if body != "" && body != k {
		return "", errInvalidKey
	}
	if k == "" || len(k) > 128 {
		return "", errInvalidKey
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return "", errInvalidKey
		}
	}
	return "api:" + op + ":" + string(p.Role) + ":" + p.Subject + ":" + k, nil
}

func ledgerPrincipal(r *http.Request) Principal {
	p, _ := PrincipalFrom(r.Context())
	return p
}

// scope checks that p may act on account id: kiosks only on their own
// account; facility-scoped tokens only in their facility.
func (h *LedgerHandler) scope(ctx context.Context, p Principal, id string) error {
	if p.Role == RoleKiosk && p.Subject != id {
		return ErrForbidden
	}
	if p.Facility == "" {
		return nil
	}
	b, err := h.l.Balance(ctx, id)
	if err != nil {
		return ledgerError(err)
	}
	if b.Facility != p.Facility {
		return ErrForbidden
	}
	return nil
}

// receiptJSON answers a money movement. It never carries a balance: a
// family member must not see one (DESIGN.md).
type receiptJSON struct {
	ID        string       `json:"id"`
	AccountID string       `json:"account_id"`
	Amount    money.Amount `json:"amount"`
	At        string       `json:"at"`
	Replayed  bool         `json:"replayed"`
}

func writeReceipt(w http.ResponseWriter, rc ledger.Receipt) {
	status := http.StatusCreated
	if rc.Replayed {
		status = http.StatusOK
	}
	WriteJSON(w, status, receiptJSON{ID: rc.ID, AccountID: rc.AccountID, Amount: rc.Amount, At: rc.At.UTC().Format(time.RFC3339Nano), Replayed: rc.Replayed})
}

// DepositInput is the body of POST /api/v1/deposits.
type DepositInput struct {
	AccountID      string `json:"account_id"`
	Amount         string `json:"amount"`
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// DepositorID names the family member when an admin records a
	// deposit; a family member deposits as themself.
	DepositorID string `json:"depositor_id,omitempty"`
}

// parseDeposit validates a deposit body fully before the ledger is
// called; FuzzDepositJSON drives it.
func parseDeposit(r *http.Request, p Principal) (ledger.DepositRequest, error) {
	var in DepositInput
	if err := DecodeJSON(r, &in); err != nil {
		return ledger.DepositRequest{}, err
	}
	if !validAccountID(in.AccountID) {
		return ledger.DepositRequest{}, errInvalidAccount
	}
	amt, err := ParseAmount(in.Amount)
	if err != nil {
		return ledger.DepositRequest{}, err
	}
	depositor := p.Subject
	switch {
	case p.Role == RoleAdmin && in.DepositorID != "":
		if !validAccountID(in.DepositorID) {
			return ledger.DepositRequest{}, errInvalidLedgerRq
		}
		depositor = in.DepositorID
	case p.Role != RoleAdmin && in.DepositorID != "" && in.DepositorID != p.Subject:
		return ledger.DepositRequest{}, ErrForbidden
	}
	key, err := idempotencyKey(r, in.IdempotencyKey, "deposit", p)
	if err != nil {
		return ledger.DepositRequest{}, err
	}
	return ledger.DepositRequest{Key: key, AccountID: in.AccountID, Amount: amt, DepositorID: depositor}, nil
}

// deposit serves POST /api/v1/deposits (family, admin).
func (h *LedgerHandler) deposit(w http.ResponseWriter, r *http.Request) {
	p := ledgerPrincipal(r)
	req, err := parseDeposit(r, p)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.scope(r.Context(), p, req.AccountID); err != nil {
		h.fail(w, r, err)
		return
	}
	rc, err := h.l.Deposit(r.Context(), req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.notifyFunded(req.AccountID)
	writeReceipt(w, rc)
}

// accountFromPath validates {id} and the principal's scope.
func (h *LedgerHandler) accountFromPath(r *http.Request) (string, Principal, error) {
	id := r.PathValue("id")
	if !validAccountID(id) {
		return "", Principal{}, errInvalidAccount
	}
	p := ledgerPrincipal(r)
	return id, p, h.scope(r.Context(), p, id)
}

// transfer serves POST /api/v1/accounts/{id}/trust-transfers (admin):
// {"amount":"25.00","memo":"…","idempotency_key":"…"}.
func (h *LedgerHandler) transfer(w http.ResponseWriter, r *http.Request) {
	id, p, err := h.accountFromPath(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var in struct {
		Amount         string `json:"amount"`
		Memo           string `json:"memo,omitempty"`
		IdempotencyKey string `json:"idempotency_key,omitempty"`
	}
	if err := DecodeJSON(r, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	amt, err := ParseAmount(in.Amount)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if len(in.Memo) > 512 {
		h.fail(w, r, errInvalidLedgerRq)
		return
	}
	key, err := idempotencyKey(r, in.IdempotencyKey, "transfer", p)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	rc, err := h.l.TransferFromTrust(r.Context(), ledger.TransferRequest{Key: key, AccountID: id, Amount: amt, StaffID: p.Subject, Memo: in.Memo})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.notifyFunded(id)
	writeReceipt(w, rc)
}

// credit serves POST /api/v1/accounts/{id}/credits (admin):
// {"amount":"0.42","reason":"re-rated tariff v3","ref":"call-1","idempotency_key":"…"}.
func (h *LedgerHandler) credit(w http.ResponseWriter, r *http.Request) {
	id, p, err := h.accountFromPath(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var in struct {
		Amount         string `json:"amount"`
		Reason         string `json:"reason"`
		Ref            string `json:"ref,omitempty"`
		IdempotencyKey string `json:"idempotency_key,omitempty"`
	}
	if err := DecodeJSON(r, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	amt, err := ParseAmount(in.Amount)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if in.Reason == "" || len(in.Reason) > 512 || len(in.Ref) > 128 {
		h.fail(w, r, Errorf(http.StatusBadRequest, "invalid_reason", "a reason of at most 512 bytes is required"))
		return
	}
	key, err := idempotencyKey(r, in.IdempotencyKey, "credit", p)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	rc, err := h.l.Credit(r.Context(), ledger.CreditRequest{Key: key, AccountID: id, Amount: amt, Reason: in.Reason, Ref: in.Ref, StaffID: p.Subject})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.notifyFunded(id)
	writeReceipt(w, rc)
}

// refund serves POST /api/v1/accounts/{id}/refunds (admin):
// {"idempotency_key":"…"}; it pays out the whole available balance of a
// released resident within the refund window.
func (h *LedgerHandler) refund(w http.ResponseWriter, r *http.Request) {
	id, p, err := h.accountFromPath(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var in struct {
		IdempotencyKey string `json:"idempotency_key,omitempty"`
	}
	if err := DecodeJSON(r, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	key, err := idempotencyKey(r, in.IdempotencyKey, "refund", p)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	rc, err := h.l.ReleaseRefund(r.Context(), ledger.RefundRequest{Key: key, AccountID: id, StaffID: p.Subject})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeReceipt(w, rc)
}

type balanceJSON struct {
	AccountID   string       `json:"account_id"`
	Facility    string       `json:"facility"`
	Status      string       `json:"status"`
	Available   money.Amount `json:"available"`
	Held        money.Amount `json:"held"`
	ReleaseDate string       `json:"release_date,omitempty"`
}

// balance serves GET /api/v1/accounts/{id}/balance (the resident's own
// kiosk, admin).
func (h *LedgerHandler) balance(w http.ResponseWriter, r *http.Request) {
	id, _, err := h.accountFromPath(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	b, err := h.l.Balance(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := balanceJSON{AccountID: b.AccountID, Facility: b.Facility, Status: string(b.Status), Available: b.Available, Held: b.Held}
	if !b.ReleaseDate.IsZero() {
		out.ReleaseDate = b.ReleaseDate.Format(time.DateOnly)
	}
	WriteJSON(w, http.StatusOK, out)
}

type entryJSON struct {
	ID              int64        `json:"id"`
	At              string       `json:"at"`
	Kind            string       `json:"kind"`
	Amount          money.Amount `json:"amount"`
	AvailableChange money.Amount `json:"available_change"`
	HeldChange      money.Amount `json:"held_change"`
	From            string       `json:"from"`
	To              string       `json:"to"`
	Memo            string       `json:"memo,omitempty"`
}

// ledgerPage reads since, until (RFC 3339), after and limit.
func ledgerPage(r *http.Request) (since, until time.Time, after int64, limit int, err error) {
	q := r.URL.Query()
	parseT := func(name string) (time.Time, bool) {
		s := q.Get(name)
		if s == "" {
			return time.Time{}, true
		}
		if len(s) > 40 {
			return time.Time{}, false
		}
		t, err := time.Parse(time.RFC3339, s)
		return t, err == nil
	}
	var ok1, ok2 bool
	since, ok1 = parseT("since")
	until, ok2 = parseT("until")
	if !ok1 || !ok2 {
		return since, until, 0, 0, errInvalidLedgerQ
	}
	if s := q.Get("after"); s != "" {
		if after, err = strconv.ParseInt(s, 10, 64); err != nil || after < 0 {
			return since, until, 0, 0, errInvalidLedgerQ
		}
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return since, until, 0, 0, errInvalidLedgerQ
		}
		limit = n
	}
	return since, until, after, limit, nil
}

// statement serves GET /api/v1/accounts/{id}/statement?since&until&after&limit
// (the resident's own kiosk, admin): journal entries oldest first and
// the cursor for the next page.
func (h *LedgerHandler) statement(w http.ResponseWriter, r *http.Request) {
	id, _, err := h.accountFromPath(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	since, until, after, limit, err := ledgerPage(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	es, err := h.l.Statement(r.Context(), id, ledger.StatementQuery{Since: since, Until: until, After: after, Limit: limit})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := struct {
		AccountID string      `json:"account_id"`
		Entries   []entryJSON `json:"entries"`
		Next      int64       `json:"next_after"`
	}{AccountID: id, Entries: make([]entryJSON, 0, len(es)), Next: after}
	for _, e := range es {
		out.Entries = append(out.Entries, entryJSON{ID: e.ID, At: e.At.Format(time.RFC3339Nano), Kind: e.Kind, Amount: e.Amount,
			AvailableChange: e.AvailableDelta(), HeldChange: e.HeldDelta(), From: e.From, To: e.To, Memo: e.Memo})
		out.Next = e.ID
	}
	WriteJSON(w, http.StatusOK, out)
}

type cdrJSON struct {
	SessionID      string       `json:"session_id"`
	ReservationID  string       `json:"reservation_id,omitempty"`
	Service        string       `json:"service"`
	Facility       string       `json:"facility"`
	AccountID      string       `json:"account_id"`
	Destination    string       `json:"destination,omitempty"`
	Class          string       `json:"class,omitempty"`
	Started        string       `json:"started,omitempty"`
	Answered       string       `json:"answered,omitempty"`
	Ended          string       `json:"ended,omitempty"`
	BilledSeconds  int64        `json:"billed_seconds"`
	Amount         money.Amount `json:"amount"`
	TariffID       string       `json:"tariff_id,omitempty"`
	TariffVersion  int64        `json:"tariff_version,omitempty"`
	Rate           money.Amount `json:"rate_per_minute"`
	IncrementFirst int64        `json:"increment_first,omitempty"`
	IncrementNext  int64        `json:"increment_next,omitempty"`
	Cause          string       `json:"cause"`
	RecordingPath  string       `json:"recording_path,omitempty"`
	Privileged     bool         `json:"privileged"`
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// cdrs serves GET /api/v1/cdrs?account_id&facility&since&until&after&limit
// (admin; a facility-scoped admin sees only their facility).
func (h *LedgerHandler) cdrs(w http.ResponseWriter, r *http.Request) {
	p := ledgerPrincipal(r)
	since, until, after, limit, err := ledgerPage(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	q := ledger.CDRQuery{AccountID: r.URL.Query().Get("account_id"), Facility: r.URL.Query().Get("facility"), Since: since, Until: until, Limit: limit}
	if (q.AccountID != "" && !validAccountID(q.AccountID)) || (q.Facility != "" && !validAccountID(q.Facility)) {
		h.fail(w, r, errInvalidLedgerQ)
		return
	}
	if p.Facility != "" {
		if q.Facility != "" && q.Facility != p.Facility {
			h.fail(w, r, ErrForbidden)
			return
		}
		q.Facility = p.Facility
	}
	cs, next, err := h.l.CDRs(r.Context(), q, after)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := struct {
		CDRs []cdrJSON `json:"cdrs"`
		Next int64     `json:"next_after"`
	}{CDRs: make([]cdrJSON, 0, len(cs)), Next: next}
	for _, c := range cs {
		out.CDRs = append(out.CDRs, cdrJSON{SessionID: c.SessionID, ReservationID: c.ReservationID, Service: c.Service,
			Facility: c.Facility, AccountID: c.AccountID, Destination: c.Destination, Class: c.Class,
			Started: stamp(c.Started), Answered: stamp(c.Answered), Ended: stamp(c.Ended), BilledSeconds: c.BilledSeconds,
			Amount: c.Amount, TariffID: c.TariffID, TariffVersion: c.TariffVersion, Rate: c.Rate,
			IncrementFirst: c.IncrementFirst, IncrementNext: c.IncrementNext, Cause: c.Cause,
			RecordingPath: c.RecordingPath, Privileged: c.Privileged})
	}
	WriteJSON(w, http.StatusOK, out)
}
