package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"ipcs/api"
	"ipcs/signaling"
)

// startSignaling builds the visit hub on the scheduler, the Meter and the
// ledger, and mounts /ws and the officers' end-visit route.
func (d *daemon) startSignaling() error {
	biller := signaling.NewRatingBiller(d.book, d.meter, d.ledger, d.clock)
	hub, err := signaling.New(signaling.Config{
		RecordDir:       d.cfg.RecordDir,
		IncludeLoopback: d.cfg.WebRTCLoopback,
		UDPPort:         d.cfg.WebRTCPort,
		NAT1To1IPs:      d.cfg.WebRTCPublicIPs,
	}, d.signer, signaling.SchedulerVisits(d.sched), biller, d.metrics.Visits,
		signaling.WithClock(d.clock), signaling.WithLogger(d.log))
	if err != nil {
		return fmt.Errorf("signaling: %w", err)
	}
	d.hub = hub
	d.closers = append(d.closers, func(context.Context) error { return hub.Close() })
	d.mux.Handle("/ws", hub)
	facilityOf := func(ctx context.Context, id string) (string, error) {
		v, err := d.sched.Visit(ctx, id)
		return v.Facility, err
	}
	api.NewVisitControl(hub, facilityOf, d.auth, signaling.ErrUnknownVisit, d.log)(d.mux)
	return nil
}

// visitEnder ends a cancelled visit's live session for the scheduler and
// waits until its charge and CDR are settled, so the credit that follows
// sees them. The hub is built after the scheduler; before it exists, and
// for visits with no live session, there is nothing to end.
type visitEnder struct{ d *daemon }

// endVisitWait bounds how long a cancellation waits for a live visit to
// close its peers and settle.
const endVisitWait = 20 * time.Second

func (e visitEnder) EndVisit(ctx context.Context, visitID string) error {
	if e.d.hub == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, endVisitWait)
	defer cancel()
	err := e.d.hub.EndAndWait(ctx, visitID, signaling.ReasonCancelled)
	if errors.Is(err, signaling.ErrUnknownVisit) {
		return nil
	}
	return err
}
