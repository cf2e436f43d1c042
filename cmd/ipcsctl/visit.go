package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
)

func runVisit(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("visit", flag.ContinueOnError)
	apiBase := fs.String("api", "http://127.0.0.1:8080", "ipcsd HTTP address")
	visitor := fs.String("visitor", "visitor@demo.test", "family member's sign-in")
	visitorPW := fs.String("visitor-password", "demo", "family member's password")
	resident := fs.String("resident", "r-1001", "resident id")
	pin := fs.String("pin", "1001", "resident PIN (signs the kiosk in)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	fam, err := newClient(*apiBase)
	if err != nil {
		return err
	}
	if err := fam.login(ctx, "family", *visitor, *visitorPW); err != nil {
		return err
	}
	var v struct {
		ID       string `json:"id"`
		Kind     string `json:"kind"`
		StartUTC string `json:"start_utc"`
		EndUTC   string `json:"end_utc"`
		Join     struct {
			Token string `json:"token"`
		} `json:"join"`
	}
	if err := fam.do(ctx, "POST", "/api/v1/direct-dial", map[string]string{"resident_id": *resident}, &v); err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			return exitError{code: 2, msg: "direct dial refused: " + ae.Error()}
		}
		return err
	}
	kiosk, _ := newClient(*apiBase)
	if err := kiosk.login(ctx, "kiosk", *resident, *pin); err != nil {
		return err
	}
	var kt struct{ Token string }
	if err := kiosk.do(ctx, "POST", "/api/v1/visits/"+url.PathEscape(v.ID)+"/token", nil, &kt); err != nil {
		return fmt.Errorf("kiosk join token: %w", err)
	}
	fmt.Printf("visit %s (%s) from %s to %s\n", v.ID, v.Kind, v.StartUTC, v.EndUTC)
	fmt.Printf("family: %s/visit.html?token=%s\n", fam.base, url.QueryEscape(v.Join.Token))
	fmt.Printf("kiosk:  %s/kiosk.html?token=%s\n", fam.base, url.QueryEscape(kt.Token))
	return nil
}
