package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"ipcs/internal/clock"
	"ipcs/scheduler"
)

// SchedulerHandler serves visit scheduling under /api/v1: slots, visitors,
// approvals, bookings, direct dial, join tokens and the officers' list.
// docs/SCHEDULER.md documents every route with examples.
type SchedulerHandler struct {
	s    *scheduler.Scheduler
	auth *Auth
	clk  clock.Clock
	log  *slog.Logger
}

// NewSchedulerHandler returns the handler; log may be nil.
func NewSchedulerHandler(s *scheduler.Scheduler, auth *Auth, clk clock.Clock, log *slog.Logger) *SchedulerHandler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &SchedulerHandler{s: s, auth: auth, clk: clk, log: log.With("component", "api")}
}

// Register mounts the scheduler routes on mux.
func (h *SchedulerHandler) Register(mux *Mux) {
	staff := []Role{RoleAdmin, RoleOfficer}
	mux.Route("GET /api/v1/facilities/{id}/slots", http.HandlerFunc(h.slots))
	mux.Route("PUT /api/v1/facilities/{id}/calendar", h.auth.Require(h.putCalendar, RoleAdmin))
	mux.Route("GET /api/v1/facilities/{id}/visits", h.auth.Require(h.facilityVisits, staff...))
	mux.Route("POST /api/v1/facilities/{id}/closures", h.auth.Require(h.addClosure, staff...))
	mux.Route("POST /api/v1/visitors", h.auth.Require(h.createVisitor, RoleAdmin))
	mux.Route("PUT /api/v1/residents/{id}", h.auth.Require(h.putResident, RoleAdmin))
	mux.Route("GET /api/v1/residents/{id}/visits", h.auth.Require(h.residentVisits, RoleAdmin, RoleOfficer, RoleKiosk))
	mux.Route("POST /api/v1/approvals", h.auth.Require(h.approve, staff...))
	mux.Route("DELETE /api/v1/approvals/{resident}/{visitor}", h.auth.Require(h.revoke, staff...))
	mux.Route("GET /api/v1/me", h.auth.Require(h.me, RoleFamily))
	mux.Route("GET /api/v1/bookings", h.auth.Require(h.myBookings, RoleFamily))
	mux.Route("POST /api/v1/bookings", h.auth.Require(h.book, RoleFamily))
	mux.Route("DELETE /api/v1/bookings/{id}", h.auth.Require(h.cancel, RoleFamily, RoleOfficer, RoleAdmin))
	mux.Route("POST /api/v1/direct-dial", h.auth.Require(h.directDial, RoleFamily))
	mux.Route("POST /api/v1/visits/{id}/token", h.auth.Require(h.joinToken, RoleFamily, RoleKiosk, RoleOfficer, RoleAdmin))
}

// FamilyCredentials signs visitors in by email and password for
// RoleFamily; the subject is the visitor id, with no facility scope (a
// visitor may see residents in several facilities).
func FamilyCredentials(s *scheduler.Scheduler) Credentials { return familyCredentials{s} }

type familyCredentials struct{ s *scheduler.Scheduler }

func (f familyCredentials) Check(ctx context.Context, user, secret string) (string, string, error) {
	v, err := f.s.Authenticate(ctx, user, secret)
	if errors.Is(err, scheduler.ErrBadCredentials) {
		return "", "", ErrBadCredentials
	} else if err != nil {
		return "", "", err
	}
	return v.ID, "", nil
}

// Scheduler error codes; docs/SCHEDULER.md lists them.
var (
	errInvalidID   = Errorf(http.StatusBadRequest, "invalid_id", "ids are 1-64 characters of A-Z a-z 0-9 . _ -")
	errInvalidDate = Errorf(http.StatusBadRequest, "invalid_date", "dates are YYYY-MM-DD between 2000 and 2100")
	errInvalidDays = Errorf(http.StatusBadRequest, "invalid_days", "days must be a whole number from 1 to 31")
	errInvalidZone = Errorf(http.StatusBadRequest, "invalid_zone", "tz must be an IANA time zone such as America/New_York")
	errInvalidTime = Errorf(http.StatusBadRequest, "invalid_time", "times are RFC 3339 instants such as 2026-11-21T18:00:00Z")
	errInvalidKind = Errorf(http.StatusBadRequest, "invalid_kind", "kind must be remote or in_facility")
)

// schedulerError maps the scheduler's sentinels to answers; anything
// else stays internal (500).
func schedulerError(err error) error {
	var ce *scheduler.ConfigError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ce):
		return Errorf(http.StatusBadRequest, "invalid_calendar", ce.Field+": "+ce.Reason)
	case errors.Is(err, scheduler.ErrSlotFull):
		return Errorf(http.StatusConflict, "slot_full", "every station is taken in that slot")
	case errors.Is(err, scheduler.ErrWeeklyLimit):
		return Errorf(http.StatusConflict, "weekly_limit", "the resident has no visits of that kind left this week")
	case errors.Is(err, scheduler.ErrOutsideWindow):
		return Errorf(http.StatusUnprocessableEntity, "outside_window", "that slot is not open for booking now")
	case errors.Is(err, scheduler.ErrNoSlot):
		return Errorf(http.StatusUnprocessableEntity, "no_slot", "there is no slot starting at that time")
	case errors.Is(err, scheduler.ErrClosed):
		return Errorf(http.StatusConflict, "closed", "visiting is closed at that time")
	case errors.Is(err, scheduler.ErrNotApproved):
		return Errorf(http.StatusForbidden, "not_approved", "you are not on the resident's approved visitor list")
	case errors.Is(err, scheduler.ErrResidentBusy):
		return Errorf(http.StatusConflict, "resident_busy", "the resident already has a visit at that time")
	case errors.Is(err, scheduler.ErrCancelCutoff):
		return Errorf(http.StatusConflict, "cancel_cutoff", "it is too late to cancel this visit")
	case errors.Is(err, scheduler.ErrVisitClosed):
		return Errorf(http.StatusConflict, "visit_closed", "the visit is over or cancelled")
	case errors.Is(err, scheduler.ErrPrivileged):
		return Errorf(http.StatusForbidden, "privileged", "privileged visits are never monitored")
	case errors.Is(err, scheduler.ErrNotFound):
		return ErrNotFound
	case errors.Is(err, scheduler.ErrInvalidZone):
		return errInvalidZone
	case errors.Is(err, scheduler.ErrDuplicate):
		return Errorf(http.StatusConflict, "duplicate", "that email already has an account")
	case errors.Is(err, scheduler.ErrInvalid):
		return Errorf(http.StatusBadRequest, "invalid_request", "the request is not valid")
	case errors.Is(err, scheduler.ErrConflict):
		return ErrOverload
	}
	return err
}

func (h *SchedulerHandler) fail(w http.ResponseWriter, r *http.Request, err error) {
	WriteError(w, r, h.log, schedulerError(err))
}

// validID mirrors the scheduler's id rule so bad ids are refused before
// any query.
func validID(s string) bool { return isIDString(s, 64) }

// parseDate accepts exactly YYYY-MM-DD, years 2000–2100.
func parseDate(s string) (time.Time, bool) {
	if len(s) != 10 {
		return time.Time{}, false
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil || t.Year() < 2000 || t.Year() > 2100 {
		return time.Time{}, false
	}
	return t, true
}

// parseInstant accepts an RFC 3339 instant with a zone, years 2000–2100.
func parseInstant(s string) (time.Time, bool) {
	if len(s) > 40 {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil || t.Year() < 2000 || t.Year() > 2100 {
		return time.Time{}, false
	}
	return t, true
}

type slotJSON struct {
	Group         string `json:"group"`
	StartUTC      string `json:"start_utc"`
	EndUTC        string `json:"end_utc"`
	FacilityLocal string `json:"facility_local"`
	VisitorLocal  string `json:"visitor_local"`
	Fold          int    `json:"fold,omitempty"`
	Capacity      int    `json:"capacity"`
	Remaining     int    `json:"remaining"`
	Bookable      bool   `json:"bookable"`
}

// slots serves GET /api/v1/facilities/{id}/slots?from=YYYY-MM-DD&days=N&tz=ZONE&group=G:
// the slots that start on the days from..from+days-1 in zone tz (default
// the facility's), each with its UTC instant and its facility and
// visitor local times with offsets.
func (h *SchedulerHandler) slots(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	q := r.URL.Query()
	if !validID(id) {
		h.fail(w, r, errInvalidID)
		return
	}
	days := 7
	if s := q.Get("days"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 31 {
			h.fail(w, r, errInvalidDays)
			return
		}
		days = n
	}
	group := q.Get("group")
	if group != "" && !validID(group) {
		h.fail(w, r, errInvalidID)
		return
	}
	var from time.Time
	if s := q.Get("from"); s != "" {
		var ok bool
		if from, ok = parseDate(s); !ok {
			h.fail(w, r, errInvalidDate)
			return
		}
	}
	var tz *time.Location
	if s := q.Get("tz"); s != "" {
		var err error
		if tz, err = h.s.Zone(s); err != nil {
			h.fail(w, r, errInvalidZone)
			return
		}
	}
	cal, err := h.s.Calendar(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if tz == nil {
		tz = cal.Location()
	}
	now := h.clk.Now()
	if from.IsZero() {
		y, m, d := now.In(tz).Date()
		from = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	}
	y, m, d := from.Date()
	// Midnight of a day in tz; time.Date moves a skipped midnight to the
	// first instant of the day, which is what a day's start means.
	start := time.Date(y, m, d, 0, 0, 0, 0, tz)
	end := time.Date(y, m, d+days, 0, 0, 0, 0, tz)
	slots, err := h.s.Slots(r.Context(), id, start, end, group)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	cfg := cal.Config()
	out := make([]slotJSON, 0, len(slots))
	for _, sl := range slots {
		bookable := sl.Remaining > 0 && now.Before(sl.End) && !sl.Start.After(now.Add(cfg.Horizon)) &&
			(cfg.LeadTime == 0 || !sl.Start.Before(now.Add(cfg.LeadTime)))
		out = append(out, slotJSON{
			Group: sl.Group, StartUTC: sl.Start.UTC().Format(time.RFC3339), EndUTC: sl.End.UTC().Format(time.RFC3339),
			FacilityLocal: sl.Local.Format(time.RFC3339), VisitorLocal: sl.Start.In(tz).Format(time.RFC3339),
			Fold: sl.Fold, Capacity: sl.Stations, Remaining: sl.Remaining, Bookable: bookable,
		})
	}
	WriteJSON(w, http.StatusOK, map[string]any{
		"facility": id, "facility_zone": cfg.Zone, "zone": tz.String(), "from": from.Format(time.DateOnly),
		"days": days, "slot_minutes": int(cfg.SlotLength / time.Minute), "slots": out,
	})
}

type joinJSON struct {
	Role      string `json:"role"`
	Token     string `json:"token"`
	NotBefore string `json:"not_before"`
	Expires   string `json:"expires"`
	URL       string `json:"url"`
}

func joinOf(t scheduler.JoinTicket) *joinJSON {
	return &joinJSON{
		Role: string(t.Role), Token: t.Token,
		NotBefore: time.Unix(t.NotBefore, 0).UTC().Format(time.RFC3339),
		Expires:   time.Unix(t.Expires, 0).UTC().Format(time.RFC3339),
		URL:       "/visit.html?token=" + url.QueryEscape(t.Token),
	}
}

type visitJSON struct {
	ID            string    `json:"id"`
	Facility      string    `json:"facility"`
	Group         string    `json:"group"`
	ResidentID    string    `json:"resident_id"`
	VisitorID     string    `json:"visitor_id"`
	Kind          string    `json:"kind"`
	Status        string    `json:"status"`
	StartUTC      string    `json:"start_utc"`
	EndUTC        string    `json:"end_utc"`
	FacilityZone  string    `json:"facility_zone"`
	FacilityLocal string    `json:"facility_local"`
	VisitorLocal  string    `json:"visitor_local,omitempty"`
	Privileged    bool      `json:"privileged"`
	Station       int       `json:"station"`
	CancelledBy   string    `json:"cancelled_by,omitempty"`
	CreditDue     bool      `json:"credit_due,omitempty"`
	Join          *joinJSON `json:"join,omitempty"`
}

// visitOut renders v; viewer, if set, adds the start in that zone.
func (h *SchedulerHandler) visitOut(v scheduler.Visit, viewer *time.Location) visitJSON {
	out := visitJSON{
		ID: v.ID, Facility: v.Facility, Group: v.Group, ResidentID: v.ResidentID, VisitorID: v.VisitorID,
		Kind: string(v.Kind), Status: string(v.Status), StartUTC: v.Start.Format(time.RFC3339), EndUTC: v.End.Format(time.RFC3339),
		FacilityZone: v.Zone, FacilityLocal: v.Start.Format(time.RFC3339), Privileged: v.Privileged, Station: v.Station,
		CancelledBy: v.CancelledBy, CreditDue: v.CreditDue,
	}
	if loc, err := h.s.Zone(v.Zone); err == nil {
		out.FacilityLocal = v.Start.In(loc).Format(time.RFC3339)
	}
	if viewer != nil {
		out.VisitorLocal = v.Start.In(viewer).Format(time.RFC3339)
	}
	return out
}

func principal(r *http.Request) Principal {
	p, _ := PrincipalFrom(r.Context())
	return p
}

// viewerZone is the signed-in visitor's zone, or nil.
func (h *SchedulerHandler) viewerZone(ctx context.Context, visitorID string) *time.Location {
	v, err := h.s.Visitor(ctx, visitorID)
	if err != nil {
		return nil
	}
	loc, err := h.s.Zone(v.Zone)
	if err != nil {
		return nil
	}
	return loc
}

func (h *SchedulerHandler) me(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	v, err := h.s.Visitor(r.Context(), p.Subject)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	rs, err := h.s.Approvals(r.Context(), v.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	type residentJSON struct {
		ID       string `json:"id"`
		Facility string `json:"facility"`
		Group    string `json:"group"`
	}
	out := make([]residentJSON, 0, len(rs))
	for _, x := range rs {
		out = append(out, residentJSON{x.ID, x.Facility, x.Group})
	}
	WriteJSON(w, http.StatusOK, map[string]any{
		"id": v.ID, "email": v.Email, "name": v.Name, "zone": v.Zone, "attorney": v.Attorney, "residents": out,
	})
}

// myBookings lists the visitor's visits that ended at most a day ago,
// with a join link for each that can still be joined.
func (h *SchedulerHandler) myBookings(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	now := h.clk.Now()
	vs, err := h.s.VisitorVisits(r.Context(), p.Subject, now.Add(-24*time.Hour))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	viewer := h.viewerZone(r.Context(), p.Subject)
	out := make([]visitJSON, 0, len(vs))
	for _, v := range vs {
		vj := h.visitOut(v, viewer)
		if v.Status.Open() && now.Before(v.End) {
			if t, err := h.s.JoinToken(r.Context(), v.ID, scheduler.RoleVisitor, p.Subject); err == nil {
				vj.Join = joinOf(t)
			}
		}
		out = append(out, vj)
	}
	WriteJSON(w, http.StatusOK, map[string]any{"visits": out})
}

func (h *SchedulerHandler) book(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ResidentID string `json:"resident_id"`
		Start      string `json:"start"`
		Kind       string `json:"kind"`
	}
	if err := DecodeJSON(r, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	if !validID(in.ResidentID) {
		h.fail(w, r, errInvalidID)
		return
	}
	start, ok := parseInstant(in.Start)
	if !ok {
		h.fail(w, r, errInvalidTime)
		return
	}
	kind := scheduler.Kind(in.Kind)
	if kind != scheduler.KindRemote && kind != scheduler.KindInFacility {
		h.fail(w, r, errInvalidKind)
		return
	}
	p := principal(r)
	b, err := h.s.Book(r.Context(), scheduler.BookRequest{VisitorID: p.Subject, ResidentID: in.ResidentID, Start: start, Kind: kind})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	vj := h.visitOut(b.Visit, h.viewerZone(r.Context(), p.Subject))
	vj.Join = joinOf(b.Visitor)
	WriteJSON(w, http.StatusCreated, vj)
}

func (h *SchedulerHandler) directDial(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ResidentID string `json:"resident_id"`
	}
	if err := DecodeJSON(r, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	if !validID(in.ResidentID) {
		h.fail(w, r, errInvalidID)
		return
	}
	p := principal(r)
	b, err := h.s.DirectDial(r.Context(), in.ResidentID, p.Subject)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	vj := h.visitOut(b.Visit, h.viewerZone(r.Context(), p.Subject))
	vj.Join = joinOf(b.Visitor)
	WriteJSON(w, http.StatusCreated, vj)
}

// cancel serves DELETE /api/v1/bookings/{id}: a visitor cancels their own
// booked visit before the cutoff; staff cancel any visit of their
// facility at any time, and a charged one is credited.
func (h *SchedulerHandler) cancel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !validID(id) {
		h.fail(w, r, errInvalidID)
		return
	}
	p := principal(r)
	if p.Role == RoleFamily {
		v, err := h.s.CancelByVisitor(r.Context(), id, p.Subject)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		WriteJSON(w, http.StatusOK, map[string]any{"visit": h.visitOut(v, h.viewerZone(r.Context(), p.Subject)), "credited": false})
		return
	}
	v, err := h.s.Visit(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if !p.CanSeeFacility(v.Facility) {
		h.fail(w, r, ErrNotFound)
		return
	}
	c, err := h.s.CancelByFacility(r.Context(), id, "cancelled by "+string(p.Role)+" "+p.Subject)
	if err != nil && c.Visit.ID == "" {
		h.fail(w, r, err)
		return
	}
	if err != nil {
		// Cancelled, but the credit did not go through; it stays due and
		// cancelling again retries it.
		h.log.Warn("visit credit failed", "visit_id", id, "err", err)
	}
	WriteJSON(w, http.StatusOK, map[string]any{"visit": h.visitOut(c.Visit, nil), "credited": c.Credited})
}

// joinToken serves POST /api/v1/visits/{id}/token: a join token for the
// caller's own part in the visit (family: visitor, kiosk: resident,
// staff: officer, to monitor).
func (h *SchedulerHandler) joinToken(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !validID(id) {
		h.fail(w, r, errInvalidID)
		return
	}
	p := principal(r)
	role := scheduler.RoleOfficer
	switch p.Role {
	case RoleFamily:
		role = scheduler.RoleVisitor
	case RoleKiosk:
		role = scheduler.RoleResident
	}
	if role == scheduler.RoleOfficer || p.Facility != "" {
		v, err := h.s.Visit(r.Context(), id)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if !p.CanSeeFacility(v.Facility) {
			h.fail(w, r, ErrNotFound)
			return
		}
	}
	t, err := h.s.JoinToken(r.Context(), id, role, p.Subject)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, joinOf(t))
}

// facilityVisits serves the officers' list: GET
// /api/v1/facilities/{id}/visits?date=YYYY-MM-DD (default today, facility time).
func (h *SchedulerHandler) facilityVisits(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !validID(id) {
		h.fail(w, r, errInvalidID)
		return
	}
	if !principal(r).CanSeeFacility(id) {
		h.fail(w, r, ErrNotFound)
		return
	}
	date := r.URL.Query().Get("date")
	if date != "" {
		if _, ok := parseDate(date); !ok {
			h.fail(w, r, errInvalidDate)
			return
		}
	}
	vs, err := h.s.FacilityDay(r.Context(), id, date)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]visitJSON, 0, len(vs))
	for _, v := range vs {
		out = append(out, h.visitOut(v, nil))
	}
	WriteJSON(w, http.StatusOK, map[string]any{"facility": id, "visits": out})
}

func (h *SchedulerHandler) residentVisits(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !validID(id) {
		h.fail(w, r, errInvalidID)
		return
	}
	p := principal(r)
	if p.Role == RoleKiosk && p.Subject != id {
		h.fail(w, r, ErrNotFound)
		return
	}
	res, err := h.s.Resident(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if !p.CanSeeFacility(res.Facility) {
		h.fail(w, r, ErrNotFound)
		return
	}
	vs, err := h.s.ResidentVisits(r.Context(), id, h.clk.Now().Add(-time.Hour))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]visitJSON, 0, len(vs))
	for _, v := range vs {
		out = append(out, h.visitOut(v, nil))
	}
	WriteJSON(w, http.StatusOK, map[string]any{"resident": id, "visits": out})
}

func (h *SchedulerHandler) putCalendar(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !validID(id) {
		h.fail(w, r, errInvalidID)
		return
	}
	if !principal(r).CanSeeFacility(id) {
		h.fail(w, r, ErrNotFound)
		return
	}
	var cfg scheduler.FacilityConfig
	if err := DecodeJSON(r, &cfg); err != nil {
		var ce *scheduler.ConfigError
		if errors.As(err, &ce) {
			h.fail(w, r, ce)
			return
		}
		h.fail(w, r, err)
		return
	}
	if cfg.ID != id {
		h.fail(w, r, Errorf(http.StatusBadRequest, "invalid_calendar", "id: must match the path"))
		return
	}
	if err := h.s.UpsertFacility(r.Context(), cfg); err != nil {
		h.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, cfg)
}

func (h *SchedulerHandler) addClosure(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !validID(id) {
		h.fail(w, r, errInvalidID)
		return
	}
	if !principal(r).CanSeeFacility(id) {
		h.fail(w, r, ErrNotFound)
		return
	}
	var in struct {
		ID     string `json:"id"`
		Group  string `json:"group"`
		Start  string `json:"start"`
		End    string `json:"end"`
		Reason string `json:"reason"`
	}
	if err := DecodeJSON(r, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	start, ok1 := parseInstant(in.Start)
	end, ok2 := parseInstant(in.End)
	if !ok1 || !ok2 {
		h.fail(w, r, errInvalidTime)
		return
	}
	if (in.ID != "" && !validID(in.ID)) || (in.Group != "" && !validID(in.Group)) {
		h.fail(w, r, errInvalidID)
		return
	}
	c, err := h.s.AddClosure(r.Context(), scheduler.Closure{ID: in.ID, Facility: id, Group: in.Group, Start: start, End: end, Reason: in.Reason})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusCreated, map[string]any{
		"id": c.ID, "facility": c.Facility, "group": c.Group, "reason": c.Reason,
		"start": c.Start.Format(time.RFC3339), "end": c.End.Format(time.RFC3339),
	})
}

func (h *SchedulerHandler) createVisitor(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email    string `json:"email"`
		Name     string `json:"name"`
		Zone     string `json:"zone"`
		Password string `json:"password"`
		Attorney bool   `json:"attorney"`
	}
	if err := DecodeJSON(r, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	if len(in.Password) < 8 {
		h.fail(w, r, Errorf(http.StatusBadRequest, "weak_password", "passwords have at least 8 characters"))
		return
	}
	v, err := h.s.CreateVisitor(r.Context(), scheduler.VisitorSpec{Email: in.Email, Name: in.Name, Zone: in.Zone, Password: in.Password, Attorney: in.Attorney})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusCreated, map[string]any{"id": v.ID, "email": v.Email, "name": v.Name, "zone": v.Zone, "attorney": v.Attorney})
}

func (h *SchedulerHandler) putResident(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var in struct {
		Facility string `json:"facility"`
		Group    string `json:"group"`
	}
	if err := DecodeJSON(r, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	if !validID(id) || !validID(in.Facility) || (in.Group != "" && !validID(in.Group)) {
		h.fail(w, r, errInvalidID)
		return
	}
	// Staff scoped to a facility place residents in it only, and move
	// only its own: the resident's current facility must be theirs too.
	p := principal(r)
	if !p.CanSeeFacility(in.Facility) {
		h.fail(w, r, ErrNotFound)
		return
	}
	if cur, err := h.s.Resident(r.Context(), id); err == nil && !p.CanSeeFacility(cur.Facility) {
		h.fail(w, r, ErrNotFound)
		return
	} else if err != nil && !errors.Is(err, scheduler.ErrNotFound) {
		h.fail(w, r, err)
		return
	}
	if err := h.s.UpsertResident(r.Context(), scheduler.Resident{ID: id, Facility: in.Facility, Group: in.Group}); err != nil {
		h.fail(w, r, err)
		return
	}
	res, err := h.s.Resident(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"id": res.ID, "facility": res.Facility, "group": res.Group})
}

// staffResident checks that staff principal p may manage resident id.
func (h *SchedulerHandler) staffResident(ctx context.Context, p Principal, id string) error {
	res, err := h.s.Resident(ctx, id)
	if err != nil {
		return err
	}
	if !p.CanSeeFacility(res.Facility) {
		return ErrNotFound
	}
	return nil
}

func (h *SchedulerHandler) approve(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ResidentID string `json:"resident_id"`
		VisitorID  string `json:"visitor_id"`
	}
	if err := DecodeJSON(r, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	if !validID(in.ResidentID) || !validID(in.VisitorID) {
		h.fail(w, r, errInvalidID)
		return
	}
	if err := h.staffResident(r.Context(), principal(r), in.ResidentID); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.s.Approve(r.Context(), in.ResidentID, in.VisitorID); err != nil {
		h.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"resident_id": in.ResidentID, "visitor_id": in.VisitorID, "approved": true})
}

func (h *SchedulerHandler) revoke(w http.ResponseWriter, r *http.Request) {
	res, vis := r.PathValue("resident"), r.PathValue("visitor")
	if !validID(res) || !validID(vis) {
		h.fail(w, r, errInvalidID)
		return
	}
	if err := h.staffResident(r.Context(), principal(r), res); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.s.Revoke(r.Context(), res, vis); err != nil {
		h.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"resident_id": res, "visitor_id": vis, "approved": false})
}
