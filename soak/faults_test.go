//go:build !js

package soak_test

import (
	"context"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/resilientws/resilientws/resilientwstest"
)

// The fault scheduler injects one fault every minGap..maxGap, chosen at
// random (by weight) from the kinds below, on random targets: one to a few
// clients' proxies, or one server (and so every client behind it). Faults
// that are modes (blackhole, stall, refusals, latency, no pongs, hang) hold
// a slot of their target until they are undone, after a random duration, so
// two modes never fight over one target. Everything random comes from one
// math/rand source seeded with the printed seed: the same seed gives the
// same fault schedule (the timing of the run around it still varies).

const (
	minGap = 40 * time.Millisecond
	maxGap = 220 * time.Millisecond
)

// faultKind is one kind of fault.
type faultKind struct {
	name   string
	weight int
	// kill tells whether the fault ends the live connections it hits, so
	// that the time to notice it is measured.
	kill bool
	// inject picks targets, calls mark with the clients behind them just
	// before it applies the fault (so that no callback can come before the
	// mark), and returns them; ok is false if no target was free.
	inject func(s *scheduler, id int, mark func(hit []int)) (hit []int, ok bool)
}

// counts of one kind.
type faultCount struct {
	injected int // faults
	targets  int // clients behind the targets
	kills    int // light clients whose open connection a killing fault hit
}

type undo struct {
	at    time.Time
	id    int
	name  string
	slot  string
	tries int
	do    func() error
}

// scheduler injects the faults. Only its own goroutine uses it, until run
// returns.
type scheduler struct {
	rng     *rand.Rand
	proxies []*resilientwstest.Proxy
	servers []*resilientwstest.Server
	clients []*clientLog
	kinds   []faultKind

	busy     map[string]bool
	undos    []undo
	counts   map[string]*faultCount
	timeline []string // every fault, for a failure report
	start    time.Time
	nextID   int
	errors   []string
	stopping bool // the fault phase is over: undos are forced

	perClient map[int][]string // client -> its faults and their undos
}

func newScheduler(seed int64, proxies []*resilientwstest.Proxy,
	servers []*resilientwstest.Server, clients []*clientLog) *scheduler {
	s := &scheduler{
		rng:       rand.New(rand.NewSource(seed)),
		proxies:   proxies,
		servers:   servers,
		clients:   clients,
		busy:      map[string]bool{},
		counts:    map[string]*faultCount{},
		perClient: map[int][]string{},
	}
	s.kinds = faultKinds()
	return s
}

// between returns a random duration in [lo, hi].
func (s *scheduler) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(s.rng.Int63n(int64(hi-lo)+1))
}

// pickProxies picks up to n distinct proxies whose slot is free.
func (s *scheduler) pickProxies(n int, slot string) []int {
	var out []int
	for _, i := range s.rng.Perm(len(s.proxies)) {
		if len(out) == n {
			break
		}
		if slot != "" && s.busy[fmt.Sprintf("p%d/%s", i, slot)] {
			continue
		}
		out = append(out, i)
	}
	return out
}

// pickServer picks a server whose slot is free, or -1.
func (s *scheduler) pickServer(slot string) int {
	for _, i := range s.rng.Perm(len(s.servers)) {
		if slot == "" || !s.busy[fmt.Sprintf("s%d/%s", i, slot)] {
			return i
		}
	}
	return -1
}

// behind returns the clients behind server i.
func (s *scheduler) behind(srv int) []int {
	var out []int
	for _, c := range s.clients {
		if c.server == srv {
			out = append(out, c.id)
		}
	}
	return out
}

// hold takes slot until after d, when do undoes the fault.
func (s *scheduler) hold(id int, name, slot string, d time.Duration, do func() error) {
	s.busy[slot] = true
	s.undos = append(s.undos, undo{at: time.Now().Add(d), id: id, name: name, slot: slot, do: do})
}

// proxyFault makes an instant or modal fault on 1..maxTargets proxies.
func proxyFault(maxTargets int, slot string, f func(s *scheduler, p *resilientwstest.Proxy, i, id int)) func(*scheduler, int, func([]int)) ([]int, bool) {
	return func(s *scheduler, id int, mark func([]int)) ([]int, bool) {
		targets := s.pickProxies(1+s.rng.Intn(maxTargets), slot)
		mark(targets) // proxy i serves client i
		for _, i := range targets {
			f(s, s.proxies[i], i, id)
		}
		return targets, len(targets) > 0
	}
}

func faultKinds() []faultKind {
	return []faultKind{
		{name: "proxy-reset", weight: 6, kill: true,
			inject: proxyFault(4, "", func(s *scheduler, p *resilientwstest.Proxy, i, id int) { p.ResetAll() })},
		{name: "proxy-fin", weight: 2, kill: true,
			inject: proxyFault(3, "", func(s *scheduler, p *resilientwstest.Proxy, i, id int) { p.CloseAll() })},
		{name: "proxy-blackhole", weight: 4, kill: true,
			// A blackhole eats bytes mid-stream: a link that survived it
			// would carry a corrupt stream, so its end resets the links
			// (those the client did not notice die by the reset).
			inject: proxyFault(3, "mode", func(s *scheduler, p *resilientwstest.Proxy, i, id int) {
				p.Blackhole()
				s.hold(id, "proxy-blackhole", fmt.Sprintf("p%d/mode", i), s.between(300*time.Millisecond, 1200*time.Millisecond),
					func() error { p.ResetAll(); p.Pass(); return nil })
			})},
		{name: "proxy-stall", weight: 4, kill: true,
			inject: proxyFault(3, "mode", func(s *scheduler, p *resilientwstest.Proxy, i, id int) {
				p.Stall()
				s.hold(id, "proxy-stall", fmt.Sprintf("p%d/mode", i), s.between(300*time.Millisecond, 1200*time.Millisecond),
					func() error { p.Pass(); s.clearKills(id, i); return nil })
			})},
		{name: "proxy-refuse", weight: 3, kill: false,
			inject: proxyFault(3, "listen", func(s *scheduler, p *resilientwstest.Proxy, i, id int) {
				p.Refuse()
				s.hold(id, "proxy-refuse", fmt.Sprintf("p%d/listen", i), s.between(200*time.Millisecond, 1500*time.Millisecond), p.Recover)
			})},
		{name: "proxy-down", weight: 2, kill: true, // refuse and reset: the whole upstream gone
			inject: proxyFault(3, "listen", func(s *scheduler, p *resilientwstest.Proxy, i, id int) {
				p.Refuse()
				p.ResetAll()
				s.hold(id, "proxy-down", fmt.Sprintf("p%d/listen", i), s.between(200*time.Millisecond, 1500*time.Millisecond), p.Recover)
			})},
		{name: "proxy-latency", weight: 3, kill: false,
			inject: proxyFault(5, "latency", func(s *scheduler, p *resilientwstest.Proxy, i, id int) {
				p.Latency(s.between(2*time.Millisecond, 25*time.Millisecond))
				s.hold(id, "proxy-latency", fmt.Sprintf("p%d/latency", i), s.between(500*time.Millisecond, 3*time.Second),
					func() error { p.Latency(0); return nil })
			})},
		{name: "proxy-throttle", weight: 2, kill: false,
			inject: proxyFault(3, "bandwidth", func(s *scheduler, p *resilientwstest.Proxy, i, id int) {
				p.Bandwidth(int64(s.between(8<<10, 64<<10)))
				s.hold(id, "proxy-throttle", fmt.Sprintf("p%d/bandwidth", i), s.between(500*time.Millisecond, 2*time.Second),
					func() error { p.Bandwidth(0); return nil })
			})},
		{name: "server-refuse-503", weight: 1, kill: false,
			inject: serverFault("upgrade", func(s *scheduler, srv *resilientwstest.Server, i, id int) {
				srv.Refuse(503, "1")
				s.hold(id, "server-refuse-503", fmt.Sprintf("s%d/upgrade", i), s.between(300*time.Millisecond, 2*time.Second),
					func() error { srv.Accept(); return nil })
			})},
		{name: "server-hang", weight: 1, kill: false,
			inject: serverFault("upgrade", func(s *scheduler, srv *resilientwstest.Server, i, id int) {
				srv.Hang()
				s.hold(id, "server-hang", fmt.Sprintf("s%d/upgrade", i), s.between(300*time.Millisecond, 1500*time.Millisecond),
					func() error { srv.Accept(); return nil })
			})},
		{name: "server-close", weight: 2, kill: true,
			inject: serverFault("", func(s *scheduler, srv *resilientwstest.Server, i, id int) {
				codes := []websocket.StatusCode{websocket.StatusGoingAway, websocket.StatusInternalError, websocket.StatusServiceRestart, 4000}
				code := codes[s.rng.Intn(len(codes))]
				srv.CloseAll(code, fmt.Sprintf("soak fault %d", id))
			})},
		{name: "server-drop", weight: 2, kill: true,
			inject: serverFault("", func(s *scheduler, srv *resilientwstest.Server, i, id int) { srv.DropAll() })},
		{name: "server-no-pongs", weight: 1, kill: true,
			inject: serverFault("pong", func(s *scheduler, srv *resilientwstest.Server, i, id int) {
				srv.StopPongs()
				s.hold(id, "server-no-pongs", fmt.Sprintf("s%d/pong", i), s.between(300*time.Millisecond, 1*time.Second),
					func() error { srv.ResumePongs(); s.clearKills(id, s.behind(i)...); return nil })
			})},
	}
}

// serverFault makes a fault on one server.
func serverFault(slot string, f func(s *scheduler, srv *resilientwstest.Server, i, id int)) func(*scheduler, int, func([]int)) ([]int, bool) {
	return func(s *scheduler, id int, mark func([]int)) ([]int, bool) {
		i := s.pickServer(slot)
		if i < 0 {
			return nil, false
		}
		hit := s.behind(i)
		mark(hit)
		f(s, s.servers[i], i, id)
		return hit, true
	}
}

// slotClients returns the clients behind a slot's target: "p3/mode" is
// client 3's proxy, "s1/pong" is server 1.
func (s *scheduler) slotClients(slot string) []int {
	var kind byte
	var i int
	if _, err := fmt.Sscanf(slot, "%c%d/", &kind, &i); err != nil {
		return nil
	}
	if kind == 's' {
		return s.behind(i)
	}
	return []int{i}
}

// clearKills forgets the unnoticed kills of fault id on clients: they rode
// it out, unless the end of the fault phase cut it short.
func (s *scheduler) clearKills(id int, clients ...int) {
	for _, c := range clients {
		s.clients[c].clearKill(id, !s.stopping)
	}
}

// inject injects one random fault.
func (s *scheduler) inject() {
	total := 0
	for _, k := range s.kinds {
		total += k.weight
	}
	// A few tries: the kind drawn may find no free target.
	for range 5 {
		r := s.rng.Intn(total)
		var k faultKind
		for _, k = range s.kinds {
			if r < k.weight {
				break
			}
			r -= k.weight
		}
		s.nextID++
		id := s.nextID
		var at time.Time
		kills := 0
		hit, ok := k.inject(s, id, func(hit []int) {
			at = time.Now()
			if !k.kill {
				return
			}
			for _, i := range hit {
				// Counted for the light clients, whose detections the
				// table shows.
				if s.clients[i].markKill(id, k.name, at) && !s.clients[i].heavy {
					kills++
				}
			}
		})
		if !ok {
			continue
		}
		c := s.counts[k.name]
		if c == nil {
			c = &faultCount{}
			s.counts[k.name] = c
		}
		c.injected++
		c.targets += len(hit)
		c.kills += kills
		sort.Ints(hit)
		s.timeline = append(s.timeline, fmt.Sprintf("%8.3fs #%d %s clients %v", at.Sub(s.start).Seconds(), id, k.name, hit))
		for _, c := range hit {
			s.perClient[c] = append(s.perClient[c], fmt.Sprintf("%.3fs #%d %s", at.Sub(s.start).Seconds(), id, k.name))
		}
		return
	}
}

// runUndos runs the undos due by now (all of them if all).
func (s *scheduler) runUndos(now time.Time, all bool) {
	keep := s.undos[:0]
	var due []undo
	for _, u := range s.undos {
		if all || !u.at.After(now) {
			due = append(due, u)
		} else {
			keep = append(keep, u)
		}
	}
	s.undos = keep
	for _, u := range due {
		if err := u.do(); err != nil {
			u.tries++
			if u.tries >= 5 { // each Recover already retries for a second
				s.errors = append(s.errors, fmt.Sprintf("undo of fault #%d (%s) on %s: %v", u.id, u.name, u.slot, err))
				delete(s.busy, u.slot)
				continue
			}
			u.at = now.Add(20 * time.Millisecond)
			s.undos = append(s.undos, u)
			continue
		}
		delete(s.busy, u.slot)
		for _, c := range s.slotClients(u.slot) {
			s.perClient[c] = append(s.perClient[c], fmt.Sprintf("%.3fs #%d %s undone", time.Since(s.start).Seconds(), u.id, u.name))
		}
	}
}

// run injects faults until d has passed or ctx ends, then undoes every
// fault still on. Bounded in time by d and in iterations by maxIter.
func (s *scheduler) run(ctx context.Context, d time.Duration) {
	s.start = time.Now()
	end := s.start.Add(d)
	next := s.start
	maxIter := int(4*d/minGap) + 1000
	t := time.NewTimer(0)
	defer t.Stop()
	for range maxIter {
		now := time.Now()
		if !now.Before(end) {
			break
		}
		s.runUndos(now, false)
		if !now.Before(next) {
			s.inject()
			next = now.Add(s.between(minGap, maxGap))
		}
		wake := next
		if end.Before(wake) {
			wake = end
		}
		for _, u := range s.undos {
			if u.at.Before(wake) {
				wake = u.at
			}
		}
		t.Reset(max(time.Until(wake), time.Millisecond))
		select {
		case <-t.C:
		case <-ctx.Done():
			s.stop()
			return
		}
	}
	s.stop()
}

// stop undoes every fault still on, retrying an undo that fails (a Recover
// whose port is briefly busy) for a bounded time, then resets every target
// to its normal behaviour, whatever the bookkeeping says.
func (s *scheduler) stop() {
	s.stopping = true
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; len(s.undos) > 0 && i < 1000 && time.Now().Before(deadline); i++ {
		s.runUndos(time.Now(), true)
	}
	for _, u := range s.undos {
		s.errors = append(s.errors, fmt.Sprintf("undo of fault #%d (%s) on %s never succeeded", u.id, u.name, u.slot))
	}
	s.undos = nil
	for i, p := range s.proxies {
		p.Bandwidth(0)
		p.Latency(0)
		p.Pass()
		if err := p.Recover(); err != nil {
			s.errors = append(s.errors, fmt.Sprintf("proxy %d: Recover: %v", i, err))
		}
	}
	for _, srv := range s.servers {
		srv.Accept()
		srv.ResumePongs()
	}
}

// summary returns the counts, by kind, in the kinds' order.
func (s *scheduler) summary() (names []string, counts []faultCount, kills map[string]bool) {
	kills = map[string]bool{}
	for _, k := range s.kinds {
		names = append(names, k.name)
		var c faultCount
		if p := s.counts[k.name]; p != nil {
			c = *p
		}
		counts = append(counts, c)
		kills[k.name] = k.kill
	}
	return names, counts, kills
}

// lastFaults returns the end of the timeline.
func (s *scheduler) lastFaults(n int) string {
	tl := s.timeline
	if len(tl) > n {
		tl = tl[len(tl)-n:]
	}
	return strings.Join(tl, "\n")
}
