package scheduler

import (
	"context"
	"fmt"

	"ipcs/internal/token"
)

// Role is a participant's role in a join token.
type Role string

// The roles of join tokens (docs/ARCHITECTURE.md, scheduler).
const (
	RoleVisitor  Role = "visitor"
	RoleResident Role = "resident"
	RoleOfficer  Role = "officer"
)

// JoinPurpose is the token purpose of visit join tokens.
const JoinPurpose = "join"

// JoinTicket is a signed join token and its window.
type JoinTicket struct {
	Role      Role
	Token     string
	NotBefore int64 // Unix seconds: the visit's start minus JoinEarly
	Expires   int64 // Unix seconds: the visit's end
}

// JoinToken issues a token for subject to join visit id as role: the
// visit's own visitor or resident, or any officer (to monitor, never a
// privileged visit). Its claims are Purpose "join", the role, Subject,
// Resource the visit id, Facility, and the window from JoinEarly before
// the start to the end, so it cannot open any other visit or hour.
func (s *Scheduler) JoinToken(ctx context.Context, visitID string, role Role, subject string) (JoinTicket, error) {
	v, err := s.Visit(ctx, visitID)
	if err != nil {
		return JoinTicket{}, err
	}
	return s.joinTicket(v, role, subject)
}

func (s *Scheduler) joinTicket(v Visit, role Role, subject string) (JoinTicket, error) {
	switch {
	case subject == "":
		return JoinTicket{}, fmt.Errorf("%w: empty subject", ErrInvalid)
	case role == RoleVisitor && subject != v.VisitorID, role == RoleResident && subject != v.ResidentID:
		// Someone else's visit: do not confirm it exists.
		return JoinTicket{}, fmt.Errorf("%w: visit %s", ErrNotFound, v.ID)
	case role == RoleOfficer && v.Privileged:
		return JoinTicket{}, ErrPrivileged
	case role != RoleVisitor && role != RoleResident && role != RoleOfficer:
		return JoinTicket{}, fmt.Errorf("%w: role %q", ErrInvalid, role)
	case !v.Status.Open() || !s.clk.Now().Before(v.End):
		return JoinTicket{}, fmt.Errorf("%w: visit %s is %s", ErrVisitClosed, v.ID, v.Status)
	}
	t := JoinTicket{Role: role, NotBefore: v.Start.Add(-JoinEarly).Unix(), Expires: v.End.Unix()}
	tok, err := s.signer.Sign(token.Claims{
		Purpose: JoinPurpose, Role: string(role), Subject: subject, Facility: v.Facility, Resource: v.ID,
		NotBefore: t.NotBefore, Expires: t.Expires,
	})
	if err != nil {
		return JoinTicket{}, fmt.Errorf("scheduler: sign join token: %w", err)
	}
	t.Token = tok
	return t, nil
}
