// Package api is the HTTP JSON API of ipcs under /api/v1. It owns the
// error format, authentication and roles, and one handler per domain
// (ledger, scheduler, CDRs) mounted by cmd/ipcsd.
//
// # Concurrency
//
// Handlers run on net/http's goroutines and hold no state of their own
// beyond their collaborators, which are safe for concurrent use.
//
// # Errors
//
// Every error answer is JSON {"error":{"code":"…","message":"…"}} with a
// 4xx or 5xx status, written by WriteError and nowhere else. Internal
// error text never reaches a client: unknown errors become 500
// "internal". Bad input is refused before any collaborator is called.
package api
