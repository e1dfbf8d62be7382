//go:build !js

package soak_test

import (
	"fmt"
	"sort"
	"time"
)

// maxDetection is a generous bound on the time from a fault that kills a
// connection to the callback that reports it: the heartbeat notices a silent
// link in 150 ms, a noisy machine may make that a few times longer.
const maxDetection = 5 * time.Second

// clientResult is one client's accounts after the soak.
type clientResult struct {
	id, server int
	heavy      bool

	accepted, rejected   int                // Send calls accepted (seqs 1..accepted), refused with ErrQueueFull
	receivedUnique       int                // seqs the servers received at least once
	receivedTotal        int                // messages the servers received, duplicates included
	duplicates           int                // extra copies received
	unconfirmedLost      int                // OnDrop ErrUnconfirmed, never received: lost in flight, and reported
	unconfirmedDelivered int                // OnDrop ErrUnconfirmed, received all the same
	dropped              map[dropReason]int // other OnDrop reasons, not received
	droppedDelivered     int                // OnDrop with another reason, yet received
	silent               int                // accepted, never received, never reported: the bug the soak hunts
	rewritten            int                // written in full twice: the first write was reported failed
	partialWrites        int                // connections that ended with a message cut short
	missing              int                // accepted, never received (reported or not)
	writtenAgain         int                // full writes beyond each message's first, per the wire tap
	mostWrites           int                // the most full writes of one message
	resent               uint64             // Stats.Resent after Close

	dials, reconnectEvents, opens int
	proxyAccepted                 int
	minDelayRatio                 float64 // least Delay / floor over the reconnect events
	detections                    []detection
	ridden                        map[string]int
	unnoticed                     *pendingKill
	hbTimeouts, wTimeouts         int
	connErrors, dialErrors        int

	errors []string
	notes  []string // details for an error report
}

func (r *clientResult) errorf(format string, args ...any) {
	if len(r.errors) < 20 {
		r.errors = append(r.errors, fmt.Sprintf(format, args...))
	} else if len(r.errors) == 20 {
		r.errors = append(r.errors, "(more errors left out)")
	}
}

// checkClient checks one client's accounts: what Send accepted, what the
// wire tap saw the client write, what the servers received, what OnDrop
// reported, and the reconnect events against the backoff.
func checkClient(cfg config, sc *soakClient, conns []serverConn, t0 time.Time) clientResult {
	snap := sc.log.snapshot()
	taps, dials, badTap := sc.tap.snapshot()
	n := int(sc.accepted)
	r := clientResult{
		id: sc.id, server: snap.server, heavy: cfg.heavy(sc.id),
		accepted: n, rejected: sc.rejected,
		dials: len(dials), reconnectEvents: len(snap.reconnects), opens: snap.opens,
		proxyAccepted: sc.acceptedTC,
		detections:    snap.detections, ridden: snap.ridden, unnoticed: sc.unnoticed,
		hbTimeouts: snap.hbTimeouts, wTimeouts: snap.wTimeouts,
		connErrors: snap.connErrors, dialErrors: snap.dialErrors,
		dropped: map[dropReason]int{},
	}
	if sc.sendErr != nil {
		r.errorf("Send failed: %v", sc.sendErr)
	}
	if badTap > 0 {
		r.errorf("the wire tap decoded %d data messages that are not this soak's", badTap)
	}
	if snap.panics > 0 {
		r.errorf("%d callback panics", snap.panics)
	}
	if p := sc.unnoticed; p != nil {
		r.errorf("fault #%d (%s) hit its open connection, which was still open after the faults stopped, and nothing told the client",
			p.id, p.kind)
	}
	for _, d := range snap.detections {
		if d.d > maxDetection {
			r.errorf("a %s took %s to be noticed, more than %s", d.kind, d.d, maxDetection)
		}
	}
	if snap.finalClose != 1 {
		r.errorf("%d OnClose events with Reconnect false, want exactly 1 (the final Close)", snap.finalClose)
	}

	// What the servers received: per connection, consecutive numbers.
	recv := make([]int, n+1)
	for _, c := range conns {
		for k, s := range c.seqs {
			if s < 1 || int(s) > n {
				r.errorf("server %d connection %d received seq %d, but Send accepted only 1..%d", c.server, c.number, s, n)
				continue
			}
			recv[s]++
			if k > 0 && s != c.seqs[k-1]+1 {
				r.errorf("server %d connection %d received seq %d right after %d: out of order or a hole mid-connection",
					c.server, c.number, s, c.seqs[k-1])
			}
		}
	}
	// Server-side connections in stream order: each starts where the one
	// before ended, or one before (the message whose write failed).
	ordered := make([]serverConn, 0, len(conns))
	for _, c := range conns {
		if len(c.seqs) > 0 {
			ordered = append(ordered, c)
		}
	}
	// (With WithResend several may start with the same seq: the longest
	// first, for the matching below.)
	sort.SliceStable(ordered, func(i, j int) bool {
		a, b := ordered[i].seqs, ordered[j].seqs
		return a[0] < b[0] || cfg.resend > 0 && a[0] == b[0] && len(a) > len(b)
	})
	for i := 1; i < len(ordered) && cfg.resend == 0; i++ { // with WithResend a connection may start before the last one ended
		prev, cur := ordered[i-1], ordered[i]
		if cur.seqs[0] < prev.seqs[len(prev.seqs)-1] {
			r.errorf("server connections overlap: %d:%d has %d..%d, %d:%d starts at %d", prev.server, prev.number,
				prev.seqs[0], prev.seqs[len(prev.seqs)-1], cur.server, cur.number, cur.seqs[0])
		}
	}

	// What OnDrop reported.
	dropped := make([]dropReason, n+1)
	unconfirmed := 0
	for _, d := range snap.dropped {
		s := d.seq
		if s < 1 || int(s) > n {
			r.errorf("OnDrop reported seq %d, but Send accepted only 1..%d", s, n)
			continue
		}
		if dropped[s] != dropNone {
			r.errorf("OnDrop reported seq %d twice (%s, then %s)", s, dropped[s], d.reason)
		}
		dropped[s] = d.reason
		if d.reason == dropUnconfirmed {
			unconfirmed++
		}
	}
	if st := sc.finalStats; st.Dropped != uint64(len(snap.dropped)) || st.DroppedUnconfirmed != uint64(unconfirmed) {
		r.errorf("Stats after Close: Dropped %d, DroppedUnconfirmed %d; OnDrop reported %d, %d of them ErrUnconfirmed",
			st.Dropped, st.DroppedUnconfirmed, len(snap.dropped), unconfirmed)
	}

	// What the client wrote, connection by connection (the wire tap): in
	// order, each connection going on from the last message written in
	// full before it, or rewriting that one (its write was reported failed).
	full := make([]int, n+1)
	last := uint32(0) // last message written in full so far
	for k, tc := range taps {
		if tc.partial {
			r.partialWrites++
		}
		for j, s := range tc.seqs {
			if s < 1 || int(s) > n {
				r.errorf("client connection %d wrote seq %d, but Send accepted only 1..%d", k+1, s, n)
				continue
			}
			full[s]++
			if j > 0 && s != tc.seqs[j-1]+1 {
				r.errorf("client connection %d wrote seq %d right after %d", k+1, s, tc.seqs[j-1])
			}
		}
		if len(tc.seqs) == 0 {
			continue
		}
		first := tc.seqs[0]
		switch {
		case first <= last && cfg.resend > 0:
			// Resent: what the previous connections left unconfirmed.
		case first == last && last > 0:
			// Rewritten: the previous connection's last message was handed
			// to the kernel in full, but its write was reported failed.
		case first == last+1:
		case first > last+1:
			for s := last + 1; s < first; s++ {
				if dropped[s] == dropNone || dropped[s] == dropUnconfirmed {
					r.errorf("client connection %d starts at seq %d, after %d: seq %d was never written, nor dropped", k+1, first, last, s)
					break
				}
			}
		default:
			r.errorf("client connection %d starts at seq %d, before %d, the last written on the connection before it", k+1, first, last)
		}
		last = tc.seqs[len(tc.seqs)-1]
	}
	// Without WithResend, a message written twice must be the last of every
	// connection but the last that wrote it: only a failed write is
	// retried, and a failed write ends its connection.
	seen := make(map[uint32]int)
	for _, tc := range taps {
		if cfg.resend > 0 {
			break
		}
		for j, s := range tc.seqs {
			if int(s) <= n && full[s] > 1 {
				seen[s]++
				if seen[s] < full[s] && j != len(tc.seqs)-1 {
					r.errorf("seq %d was written twice, and the first time it was not the last message of its connection", s)
				}
			}
		}
	}

	// Each server-side connection received a prefix of what one client
	// connection wrote (TCP loses only a tail, when the link dies).
	matched := make([]bool, len(taps))
	for _, c := range ordered {
		found := -1
		for k, tc := range taps { // the shortest that fits (one connection's seqs are consecutive)
			if !matched[k] && isPrefix(c.seqs, tc.seqs) && (found < 0 || len(tc.seqs) < len(taps[found].seqs)) {
				found = k
			}
		}
		if found < 0 {
			r.errorf("server %d connection %d received %d..%d (%d messages), which no client connection wrote",
				c.server, c.number, c.seqs[0], c.seqs[len(c.seqs)-1], len(c.seqs))
			continue
		}
		matched[found] = true
	}

	// Every accepted message: received, or reported through OnDrop. Nothing
	// lost silently, not even in flight on a link that died: those must be
	// reported with ErrUnconfirmed.
	var silentInFlight, silentUnwritten []uint32
	for s := 1; s <= n; s++ {
		got, why := recv[s] > 0, dropped[s]
		switch {
		case got && why == dropNone:
		case got && why == dropUnconfirmed:
			r.unconfirmedDelivered++
		case got:
			r.droppedDelivered++
		case why == dropUnconfirmed:
			r.unconfirmedLost++
		case why != dropNone:
			r.dropped[why]++
		case full[s] > 0:
			silentInFlight = append(silentInFlight, uint32(s))
		default:
			silentUnwritten = append(silentUnwritten, uint32(s))
		}
		if why == dropUnconfirmed && full[s] == 0 {
			r.errorf("seq %d was reported ErrUnconfirmed (written, not confirmed), but it was never written in full", s)
		}
		if got {
			r.receivedUnique++
			r.receivedTotal += recv[s]
			r.duplicates += recv[s] - 1
		}
		if recv[s] > full[s] {
			r.errorf("seq %d received %d times but written in full %d times", s, recv[s], full[s])
		}
		if full[s] > 1 {
			r.rewritten++
			r.writtenAgain += full[s] - 1
		}
		r.mostWrites = max(r.mostWrites, full[s])
		if !got {
			r.missing++
		}
	}
	// At least once: everything accepted arrived, and nothing exhausted its
	// resends (soakResend is far more than a message is ever written), so
	// OnDrop reports nothing, but for one case: a connection that dies just
	// before the final Close leaves messages unconfirmed with no connection
	// to follow, and Close reports them with ErrUnconfirmed (they arrived:
	// nothing is missing). Each resend the client counted is a full write
	// the tap saw (the tap also sees writes reported failed).
	r.resent = sc.finalStats.Resent
	if cfg.resend > 0 {
		if r.missing > 0 {
			r.errorf("WithResend(%d): %d messages accepted by Send never reached a server", cfg.resend, r.missing)
		}
		for _, d := range snap.dropped {
			s := d.seq
			switch {
			case s < 1 || int(s) > n: // reported above
			case d.reason != dropUnconfirmed:
				r.errorf("WithResend(%d): OnDrop reported seq %d (%s): %v", cfg.resend, s, d.reason, snap.dropReasons)
			case full[s] > cfg.resend:
				r.errorf("WithResend(%d): seq %d exhausted its resends (written in full %d times)", cfg.resend, s, full[s])
			}
		}
		if r.resent > uint64(r.writtenAgain) {
			r.errorf("WithResend(%d): Stats.Resent %d, but the wire tap saw only %d full writes beyond each message's first",
				cfg.resend, r.resent, r.writtenAgain)
		}
	} else if r.resent > 0 {
		r.errorf("Stats.Resent %d without WithResend", r.resent)
	}
	r.silent = len(silentInFlight) + len(silentUnwritten)
	if len(silentInFlight) > 0 {
		r.errorf("%d messages written in full on a link that then died were never received and never reported through OnDrop: %s",
			len(silentInFlight), seqList(silentInFlight))
	}
	if len(silentUnwritten) > 0 {
		r.errorf("%d messages accepted by Send were never written in full, never received and never reported through OnDrop: %s",
			len(silentUnwritten), seqList(silentUnwritten))
	}

	if len(r.errors) > 0 || sc.tailMissing {
		r.notes = append(r.notes, connListing(taps, conns, t0)...)
	}

	// The reconnect loop against the backoff.
	r.minDelayRatio = -1
	prevAttempt := 0
	for i, ev := range snap.reconnects {
		if ev.attempt != 1 && ev.attempt != prevAttempt+1 {
			r.errorf("reconnect event %d: attempt %d after attempt %d", i+1, ev.attempt, prevAttempt)
		}
		prevAttempt = ev.attempt
		floor := cfg.delayFloor(ev.attempt)
		if ev.retryAfter > floor {
			floor = ev.retryAfter
		}
		if ev.delay < floor-time.Microsecond {
			r.errorf("reconnect event %d (attempt %d): waited %s, less than the backoff's floor %s", i+1, ev.attempt, ev.delay, floor)
		}
		if ceil := max(cfg.backoffMax, ev.retryAfter); ev.delay > ceil {
			r.errorf("reconnect event %d (attempt %d): waited %s, more than the policy's ceiling %s", i+1, ev.attempt, ev.delay, ceil)
		}
		if ratio := float64(ev.delay) / float64(floor); r.minDelayRatio < 0 || ratio < r.minDelayRatio {
			r.minDelayRatio = ratio
		}
	}
	// Independently of what the events say: the dials the transport saw.
	// One at Start, then one after each OnReconnecting; but a handshake that
	// gave up (its dial timeout, on a starved machine) before net/http's
	// dial goroutine ran gets no dial at all, so each failed attempt may
	// account for one dial fewer, never one more; and so may the last
	// OnReconnecting, when Close came between it and its dial.
	attempts := 1 + len(snap.reconnects)
	if len(dials) > attempts || attempts-len(dials) > snap.dialErrors+1 {
		last := ""
		if k := len(snap.reconnects); k > 0 && len(dials) > 0 {
			ev := snap.reconnects[k-1]
			last = fmt.Sprintf(" (the last, attempt %d with a %s wait, came %s before the final Close began; the last dial %s before it)",
				ev.attempt, ev.delay, sc.closeStart.Sub(ev.at), sc.closeStart.Sub(dials[len(dials)-1]))
		}
		r.errorf("the transport saw %d dials, the client reported 1 + %d OnReconnecting and %d failed dials%s",
			len(dials), len(snap.reconnects), snap.dialErrors, last)
	} else if len(dials) == attempts {
		for i := 1; i < len(dials); i++ {
			gap, want := dials[i].Sub(dials[i-1]), snap.reconnects[i-1].delay
			if gap < want {
				r.errorf("dial %d came %s after dial %d, less than the %s wait reported for it", i+1, gap, i, want)
			}
		}
	}
	if len(dials) > 1 {
		elapsed := dials[len(dials)-1].Sub(dials[0])
		if bound := 1 + int(elapsed/cfg.delayFloor(1)); len(dials) > bound {
			r.errorf("%d dials in %s: more than the %d the backoff allows", len(dials), elapsed, bound)
		}
	}
	if r.proxyAccepted > len(dials) {
		r.errorf("the proxy accepted %d connections, the client dialled %d times", r.proxyAccepted, len(dials))
	}
	if r.opens != int(sc.finalStats.Connects) {
		r.errorf("%d OnOpen events, Stats.Connects %d", r.opens, sc.finalStats.Connects)
	}
	return r
}

// connListing lists a client's connections as the tap and the servers saw
// them, for an error report.
func connListing(taps []tappedConn, conns []serverConn, t0 time.Time) []string {
	var out []string
	rng := func(s []uint32) string {
		if len(s) == 0 {
			return "nothing"
		}
		return fmt.Sprintf("%d..%d (%d)", s[0], s[len(s)-1], len(s))
	}
	for k, tc := range taps {
		first, closed := "-", "-"
		if len(tc.times) > 0 {
			first = fmt.Sprintf("%.3fs", tc.times[0].Sub(t0).Seconds())
		}
		if !tc.closed.IsZero() {
			closed = fmt.Sprintf("%.3fs", tc.closed.Sub(t0).Seconds())
		}
		out = append(out, fmt.Sprintf("client connection %d wrote %s, first at %s, partial %t, closed at %s", k+1, rng(tc.seqs), first, tc.partial, closed))
	}
	for _, c := range conns {
		out = append(out, fmt.Sprintf("server %d connection %d received %s, ended %t", c.server, c.number, rng(c.seqs), c.ended))
	}
	return out
}

func isPrefix(p, s []uint32) bool {
	if len(p) > len(s) {
		return false
	}
	for i := range p {
		if p[i] != s[i] {
			return false
		}
	}
	return true
}

// seqList formats seqs as ranges, "3-5, 9", at most a few.
func seqList(seqs []uint32) string {
	out := ""
	for i, ranges := 0, 0; i < len(seqs); ranges++ {
		if ranges == 10 {
			return out + ", ..."
		}
		j := i
		for j+1 < len(seqs) && seqs[j+1] == seqs[j]+1 {
			j++
		}
		if out != "" {
			out += ", "
		}
		if j > i {
			out += fmt.Sprintf("%d-%d", seqs[i], seqs[j])
		} else {
			out += fmt.Sprint(seqs[i])
		}
		i = j + 1
	}
	return out
}
