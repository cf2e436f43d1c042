package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
)

// VisitEnder ends a live visit; the signaling hub satisfies it.
type VisitEnder interface {
	End(visitID, reason string) error
}

// VisitFacility returns the facility a visit belongs to; an unknown
// visit is an error. The scheduler answers it.
type VisitFacility func(ctx context.Context, visitID string) (string, error)

// ErrNoLiveVisit is what a VisitEnder returns for a visit with no live
// session; it is answered 404.
var ErrNoLiveVisit = errors.New("no live visit")

// NewVisitControl serves POST /api/v1/visits/{id}/end for officers and
// admins: the visit ends at once for everyone in it, with reason
// "officer". Staff scoped to a facility end only its visits
// (facilityOf). unknown maps the ender's not-live error to a 404.
func NewVisitControl(e VisitEnder, facilityOf VisitFacility, auth *Auth, unknown error, log *slog.Logger) func(mux *Mux) {
	end := func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if !validID(id) {
			WriteError(w, r, log, Errorf(http.StatusBadRequest, "invalid_id", "visit id is malformed"))
			return
		}
		// Staff of one facility end only that facility's visits; another
		// facility's visit is answered as one that is not live.
		p, _ := PrincipalFrom(r.Context())
		if f, err := facilityOf(r.Context(), id); err != nil || !p.CanSeeFacility(f) {
			WriteError(w, r, log, Errorf(http.StatusNotFound, "not_live", "the visit is not in progress"))
			return
		}
		if err := e.End(id, "officer"); err != nil {
			if errors.Is(err, unknown) || errors.Is(err, ErrNoLiveVisit) {
				WriteError(w, r, log, Errorf(http.StatusNotFound, "not_live", "the visit is not in progress"))
				return
			}
			WriteError(w, r, log, err)
			return
		}
		WriteJSON(w, http.StatusOK, map[string]string{"visit_id": id, "status": "ended"})
	}
	return func(mux *Mux) {
		mux.Route("POST /api/v1/visits/{id}/end", auth.Require(end, RoleOfficer, RoleAdmin))
	}
}
