//go:build !js

package soak_test

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// result is a whole soak's outcome, for the summary.
type result struct {
	cfg config

	initialOpen, settle, flush, receive, close time.Duration
	faultsStopped                              time.Time

	faultNames  []string
	faultCounts []faultCount
	faultKills  map[string]bool

	clients          []clientResult
	emptyServerConns int
	resources        string
}

// percentile returns the nearest-rank p-th percentile of sorted ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	k := int(float64(len(ds))*p/100+0.999999) - 1
	return ds[max(0, min(k, len(ds)-1))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond)) }

// summary renders the summary table.
func (res *result) summary() string {
	cfg := res.cfg
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("chaos soak summary, %s: seed %d, %d clients behind %d proxies, %d servers, faults for %s, one message per client every %s (every %dth client pads it to %d KiB)",
		cfg.phase, cfg.seed, cfg.clients, cfg.clients, cfg.servers, cfg.duration, cfg.sendEvery, cfg.heavyEvery, cfg.heavyPad>>10)
	w("client settings: heartbeat %s/%s, backoff %s..%s x%.0f ±%.0f%%, stable after %s, dial timeout %s, write timeout %s",
		cfg.heartbeat, cfg.heartbeatTimeout, cfg.backoffInitial, cfg.backoffMax, cfg.backoffMultiplier, cfg.jitter*100,
		cfg.stableAfter, cfg.dialTimeout, cfg.writeTimeout)
	w("phases: all OPEN at start in %s; after the faults: all OPEN again in %s, Flush %s, servers had everything in %s, Close %s",
		ms(res.initialOpen), ms(res.settle), ms(res.flush), ms(res.receive), ms(res.close))
	w("")

	// Faults and detection, by kind.
	byKind := map[string][]time.Duration{}
	hbKind := map[string]int{}
	var allDet, heavyDet []time.Duration
	heavyHB, heavyWT, heavyN := 0, 0, 0
	for _, c := range res.clients {
		if c.heavy {
			heavyN++
			heavyWT += c.wTimeouts
			for _, d := range c.detections {
				heavyDet = append(heavyDet, d.d)
				if d.heartbeat {
					heavyHB++
				}
			}
			continue
		}
		for _, d := range c.detections {
			byKind[d.kind] = append(byKind[d.kind], d.d)
			allDet = append(allDet, d.d)
			if d.heartbeat {
				hbKind[d.kind]++
			}
		}
	}
	w("%-18s %6s %8s %6s %8s %9s %9s %9s %9s", "fault", "count", "clients", "kills", "detected", "p50", "p99", "max", "heartbeat")
	totalFaults := 0
	for i, name := range res.faultNames {
		c := res.faultCounts[i]
		totalFaults += c.injected
		if !res.faultKills[name] {
			w("%-18s %6d %8d %6s %8s %9s %9s %9s %9s", name, c.injected, c.targets, "-", "-", "-", "-", "-", "-")
			continue
		}
		ds := byKind[name]
		slices.Sort(ds)
		var mx time.Duration
		if len(ds) > 0 {
			mx = ds[len(ds)-1]
		}
		w("%-18s %6d %8d %6d %8d %9s %9s %9s %9d", name, c.injected, c.targets, c.kills, len(ds),
			ms(percentile(ds, 50)), ms(percentile(ds, 99)), ms(mx), hbKind[name])
	}
	slices.Sort(allDet)
	var mx time.Duration
	if len(allDet) > 0 {
		mx = allDet[len(allDet)-1]
	}
	w("%-18s %6d %8s %6s %8d %9s %9s %9s", "all", totalFaults, "", "", len(allDet),
		ms(percentile(allDet, 50)), ms(percentile(allDet, 99)), ms(mx))
	w("(the %d light clients; kills: open connections a killing fault hit; detected: of those, noticed through OnError/OnClose;", cfg.clients-heavyN)
	w(" times from the fault to that callback; heartbeat: noticed by ErrHeartbeatTimeout. A blackhole's end resets its links.)")
	slices.Sort(heavyDet)
	if len(heavyDet) > 0 {
		w("the %d heavy clients (heartbeat timeout %s, write timeout %s): %d detections, p50 %s, p99 %s, max %s; by heartbeat %d; write timeouts %d",
			heavyN, cfg.heavyHeartbeatTimeout, cfg.writeTimeout, len(heavyDet), ms(percentile(heavyDet, 50)),
			ms(percentile(heavyDet, 99)), ms(heavyDet[len(heavyDet)-1]), heavyHB, heavyWT)
	}

	// Per-client detection, aggregated.
	var p50s, p99s []time.Duration
	ridden, heavyRidden, unnoticed := map[string]int{}, map[string]int{}, 0
	for _, c := range res.clients {
		for k, v := range c.ridden {
			if c.heavy {
				heavyRidden[k] += v
			} else {
				ridden[k] += v
			}
		}
		if c.unnoticed != nil {
			unnoticed++
		}
		if len(c.detections) == 0 || c.heavy {
			continue
		}
		ds := detTimes(c.detections)
		p50s = append(p50s, percentile(ds, 50))
		p99s = append(p99s, percentile(ds, 99))
	}
	slices.Sort(p50s)
	slices.Sort(p99s)
	if len(p50s) > 0 {
		w("per light client (%d with detections): p50 from %s to %s (median %s); p99 from %s to %s (median %s)",
			len(p50s), ms(p50s[0]), ms(p50s[len(p50s)-1]), ms(percentile(p50s, 50)),
			ms(p99s[0]), ms(p99s[len(p99s)-1]), ms(percentile(p99s, 50)))
	}
	w("kills ridden out (undone before the client noticed): light clients %s; heavy clients %s; kills unnoticed after the settle: %d",
		fmtCounts(ridden), fmtCounts(heavyRidden), unnoticed)
	w("")

	// Messages.
	t := clientResult{dropped: map[dropReason]int{}}
	var reconnects uint64
	for _, c := range res.clients {
		t.accepted += c.accepted
		t.rejected += c.rejected
		t.receivedUnique += c.receivedUnique
		t.receivedTotal += c.receivedTotal
		t.duplicates += c.duplicates
		for k, v := range c.dropped {
			t.dropped[k] += v
		}
		t.droppedDelivered += c.droppedDelivered
		t.unconfirmedLost += c.unconfirmedLost
		t.unconfirmedDelivered += c.unconfirmedDelivered
		t.silent += c.silent
		t.rewritten += c.rewritten
		t.partialWrites += c.partialWrites
		t.missing += c.missing
		t.writtenAgain += c.writtenAgain
		t.mostWrites = max(t.mostWrites, c.mostWrites)
		t.resent += c.resent
		t.opens += c.opens
		t.dials += c.dials
		t.reconnectEvents += c.reconnectEvents
		t.hbTimeouts += c.hbTimeouts
		t.wTimeouts += c.wTimeouts
		t.connErrors += c.connErrors
		t.dialErrors += c.dialErrors
		t.proxyAccepted += c.proxyAccepted
		if c.minDelayRatio >= 0 && (t.minDelayRatio == 0 || c.minDelayRatio < t.minDelayRatio) {
			t.minDelayRatio = c.minDelayRatio
		}
		reconnects += uint64(max(c.opens-1, 0))
	}
	others := map[string]int{}
	for k, v := range t.dropped {
		others[k.String()] = v
	}
	w("messages: accepted by Send %d; received %d (unique %d); duplicated %d; silently lost %d",
		t.accepted, t.receivedTotal, t.receivedUnique, t.duplicates, t.silent)
	w("          OnDrop ErrUnconfirmed %d: %d lost in flight, %d delivered all the same; other OnDrop reasons, not received: %s; delivered all the same: %d",
		t.unconfirmedLost+t.unconfirmedDelivered, t.unconfirmedLost, t.unconfirmedDelivered, fmtCounts(others), t.droppedDelivered)
	rewritten := "rewritten after a failed write"
	if cfg.resend > 0 {
		rewritten = "written more than once (a failed write, or resent)"
	}
	w("          %s %d (%d became duplicates); connections that ended mid-message %d; Send refused (queue full) %d",
		rewritten, t.rewritten, t.duplicates, t.partialWrites, t.rejected)
	if cfg.resend > 0 {
		drops := t.unconfirmedLost + t.unconfirmedDelivered + t.droppedDelivered
		for _, v := range t.dropped {
			drops += v
		}
		dupPct := 0.0
		if t.receivedUnique > 0 {
			dupPct = 100 * float64(t.duplicates) / float64(t.receivedUnique)
		}
		w("at least once (WithResend(%d)): accepted %d; missing at the servers %d; duplicates %d (%.2f%% of those received); OnDrop reports %d (the checks allow only ErrUnconfirmed at the final Close)",
			cfg.resend, t.accepted, t.missing, t.duplicates, dupPct, drops)
		w("          Stats.Resent %d; full writes beyond each message's first (wire tap) %d; most writes of one message %d",
			t.resent, t.writtenAgain, t.mostWrites)
	}
	w("connections: opened %d (reconnects %d); dials %d (proxy accepted %d TCP); failed dials %d; OnReconnecting %d, least Delay/floor %.2f",
		t.opens, reconnects, t.dials, t.proxyAccepted, t.dialErrors, t.reconnectEvents, t.minDelayRatio)
	w("             connection errors: heartbeat timeouts %d, write timeouts %d, other (reset, EOF) %d; server connections with no message %d",
		t.hbTimeouts, t.wTimeouts, t.connErrors, res.emptyServerConns)
	if res.resources != "" {
		w("resources: %s", res.resources)
	}
	w("")

	// Per client.
	w("%-6s %3s %6s %6s %4s %6s %5s %5s %5s %5s %4s %9s %9s", "client", "srv", "sent", "recv", "dup", "unconf",
		"opens", "dials", "hbto", "det", "ride", "det p50", "det p99")
	for _, c := range res.clients {
		ds := detTimes(c.detections)
		ride := 0
		for _, v := range c.ridden {
			ride += v
		}
		name := fmt.Sprintf("c%02d", c.id)
		if c.heavy {
			name += "*"
		}
		w("%-6s %3d %6d %6d %4d %6d %5d %5d %5d %5d %4d %9s %9s", name, c.server, c.accepted, c.receivedUnique,
			c.duplicates, c.unconfirmedLost+c.unconfirmedDelivered, c.opens, c.dials, c.hbTimeouts, len(ds), ride,
			ms(percentile(ds, 50)), ms(percentile(ds, 99)))
	}
	w("(* heavy client)")
	w("seed %d", cfg.seed)
	return b.String()
}

func detTimes(dets []detection) []time.Duration {
	ds := make([]time.Duration, len(dets))
	for i, d := range dets {
		ds[i] = d.d
	}
	slices.Sort(ds)
	return ds
}

// fmtCounts formats counts by name, "none" when empty.
func fmtCounts(m map[string]int) string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
