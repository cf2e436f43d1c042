// Package callswitch is the SIP call switch of ipcs: a back-to-back user
// agent (B2BUA) on github.com/emiago/sipgo between housing-unit phones and
// the outbound trunk. Its folder is switch/, but switch is a Go keyword,
// so the package is callswitch.
//
// A phone INVITEs PIN*NUMBER. The switch authenticates the phone (SIP
// digest, MD5 or SHA-256, or a trusted gateway network), finds the
// resident by PIN within the phone's facility (locking a guessing phone
// out), normalizes the number, applies the facility's and resident's
// policy (most restrictive wins), quotes the call with the rating Book and
// reserves the first slice of the resident's balance in the ledger. Then
// it places the trunk leg, relays its provisional answers, and at the
// trunk's 200 starts billing: the rating Meter meters the call, extends
// the reservation, warns the phone (SIP INFO) and ends the call when the
// money or the time limit runs out. Every call ends in one place, which
// hangs up the legs still up, commits the usage with the CDR (or releases
// the reservation of an unanswered call, which costs nothing; a call the
// phone never ACKed costs nothing either) and counts it. Billing stops at
// the event that ends the call, even when that call still waits for the
// phone's ACK. See docs/SWITCH.md for the dial plan, answers, settings and CDRs.
//
// # Concurrency
//
// New builds, Start binds and serves, Close ends. sipgo runs each request
// handler on its own goroutine. The INVITE handler of an admitted call
// runs the call's set-up and stays until the phone's ACK (sipgo ends an
// INVITE transaction whose handler returns before the final answer),
// then returns: an answered call holds no goroutine. Its later events
// (BYE from either leg, the Meter's warnings and end, a 2xx to ACK again,
// its context ending) are merged into a small pending set by handlers
// that never block, and the first one starts a goroutine that handles
// them in order and exits when none is left, so the call's state still
// changes on one goroutine at a time. The calls WaitGroup counts each
// call from admission to the end of its end, and those event goroutines
// and helpers (INFO senders, the BYE of the second leg); Close cancels
// the switch context, which every call's context descends from, waits
// for that group, then stops the listeners and waits for them, and after
// a 50 ms grace closes sipgo's transport layer once more (requests read
// just before the listeners closed may have made it open sockets). Refusals
// that need no memory of the INVITE (the digest challenge, 400, 503) are
// sent statelessly: their transaction is dropped at once.
// Admission is bounded: over Config.MaxCalls, INVITEs get 503 at once.
// The Directory is immutable and swapped atomically (SetDirectory).
// Timers (no-answer, BYE and ledger deadlines) come from the injected
// clock; the short waits between retries of a settling ledger call and
// Close's grace are real time (clock.Real: they wait for resources, not
// business time); sipgo's own SIP timers are real time and package
// globals that only cmd/ipcsd may set.
//
// # Errors
//
// Errors become SIP answers in one function, classify in answer.go:
// 400 for malformed requests and dial strings, 401 digest challenges
// (stale=true for an expired nonce), 403 with a Reason header for a bad
// PIN, a lockout, an inactive resident, a blocked or not-allowed number or
// calling hours, 402 when the balance cannot pay one billing increment,
// 404 for an invalid destination, the trunk's final answer passed through
// (480, 486, 487, 503…), 480 on no answer, 503 with Retry-After on
// overload, 500 after a recovered panic. Peers never see internal error
// text. Settling ledger calls that fail for a reason that may pass
// (ledger.ErrOverload) are retried briefly; one that still fails is
// logged and left to the ledger's recovery. Input that is not SIP, or is
// oversized, is dropped and counted
// (ipcs_sip_malformed_total) with sampled logs; in-dialog requests for
// unknown dialogs get 481.
package callswitch
