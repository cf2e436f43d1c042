package main

import (
	"context"

	"ipcs/api"
)

// wire builds the components and mounts their routes.
func (d *daemon) wire(ctx context.Context) error {
	creds := map[api.Role]api.Credentials{
		api.RoleAdmin: api.StaticCredentials{"admin": {Secret: d.cfg.AdminPassword}},
	}
	d.routesBase(creds)
	return nil
}

// sipAddr is the SIP address actually bound (the configured one until the
// switch is wired).
func (d *daemon) sipAddr() string { return d.cfg.SIP }
