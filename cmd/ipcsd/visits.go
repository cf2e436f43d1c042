package main

import (
	"context"
	"fmt"

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
	api.NewVisitControl(hub, d.auth, signaling.ErrUnknownVisit, d.log)(d.mux)
	return nil
}
