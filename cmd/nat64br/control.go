package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/nat64br/nat64br/config"
	"github.com/nat64br/nat64br/dataplane"
	"github.com/nat64br/nat64br/xlat"
)

// The control socket: a Unix socket (control-socket, mode 0600 in a 0700
// directory when nat64br makes it) that serves JSON over HTTP to the
// operator commands (ctl.go). Read-only requests are GETs; reload is a
// POST. Nothing here touches the data path: it reads the same counters
// and tables as the metrics endpoint.

// controlServer serves the control socket until closed.
type controlServer struct {
	srv  *http.Server
	path string
}

func startControl(r *runner, path string) (*controlServer, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	if err := clearStaleSocket(path); err != nil {
		return nil, err
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	get := func(p string, f func(*http.Request) (any, error)) {
		mux.HandleFunc("GET "+p, func(w http.ResponseWriter, q *http.Request) {
			v, err := f(q)
			reply(w, v, err)
		})
	}
	get("/status", func(*http.Request) (any, error) { return r.status(), nil })
	get("/stats", func(*http.Request) (any, error) { return r.statsReply(), nil })
	get("/neighbors", func(*http.Request) (any, error) { return r.neighbors(), nil })
	get("/pool", func(*http.Request) (any, error) { return r.pool(), nil })
	get("/bib", func(q *http.Request) (any, error) { return r.natList(q, false) })
	get("/sessions", func(q *http.Request) (any, error) { return r.natList(q, true) })
	var names [3]string
	for _, side := range []xlat.Side{xlat.Side6, xlat.Side4} {
		names[side] = side.String()
		if r.ports[side] != nil {
			names[side] = r.ports[side].Name()
		}
	}
	mux.HandleFunc("POST /trace", func(w http.ResponseWriter, q *http.Request) { serveTrace(r.d, w, q, names) })
	mux.HandleFunc("POST /reload", func(w http.ResponseWriter, _ *http.Request) {
		changed, problems := r.reloadResult()
		reply(w, reloadReply{Applied: problems == nil, Changed: changed, Problems: problems}, nil)
	})
	return &controlServer{srv: r.serveHTTP(ln, mux, "control socket"), path: path}, nil
}

// errRunning is wrapped by the error of a start that found another
// nat64br serving its control socket or holding one of its ports.
var errRunning = errors.New("already running")

// clearStaleSocket makes way for the control socket at path. It removes
// only a stale socket: Lstat says socket, and connecting to it is
// refused (ECONNREFUSED: nobody listens). A socket that answers belongs
// to a running nat64br (an error wrapping errRunning); anything else at
// path, a regular file, a directory, a symlink, or a socket it cannot
// tell, is an error wrapping errUnsafe and is left as it is.
func clearStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%w: %s is not a socket (mode %v): nat64br replaces only a stale socket; move it away or set another control-socket", errUnsafe, path, fi.Mode())
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("%w: another nat64br serves %s", errRunning, path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("%w: %s: cannot tell whether the socket is stale (%w): remove it if no nat64br runs", errUnsafe, path, err)
	}
	return os.Remove(path)
}

// serveHTTP serves h on ln until the server it returns is closed; if it
// stops otherwise, the log says so, naming it what.
func (r *runner) serveHTTP(ln net.Listener, h http.Handler, what string) *http.Server {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.log.Error(what+" stopped", "err", err)
		}
	}()
	return srv
}

func (c *controlServer) close() {
	if c != nil {
		c.srv.Close()
		os.Remove(c.path)
	}
}

func reply(w http.ResponseWriter, v any, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		v = struct {
			Error string `json:"error"`
		}{err.Error()}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// The replies. Field names are the JSON of `--json`: keep them stable.

type statusReply struct {
	Version    string       `json:"version"`
	Go         string       `json:"go"`
	PID        int          `json:"pid"`
	Started    time.Time    `json:"started"`
	Uptime     string       `json:"uptime"`
	Config     string       `json:"config"`
	ConfigHash string       `json:"config_sha256"`
	Mode       string       `json:"mode"`
	DataPath   string       `json:"data_path"`
	Workers    int          `json:"workers"`
	WorkerCPUs []int        `json:"worker_cpus,omitempty"` // the CPU each worker is pinned to while its link is idle
	Spread     string       `json:"spread,omitempty"`      // how frames are spread over the workers: ports, or hash (the kernel's flow hash)
	Prefix     string       `json:"prefix,omitempty"`
	Metrics    string       `json:"metrics,omitempty"`
	Ports      []portStatus `json:"ports"`
	BGP        *bgpStatus   `json:"bgp,omitempty"` // without a bgp section: none
}

type portStatus struct {
	Side      string   `json:"side"`
	Interface string   `json:"interface"`
	MAC       string   `json:"mac"`
	Link      string   `json:"link"` // operstate
	MTU       int      `json:"mtu"`
	Answers   []string `json:"answers_for"` // addresses and prefixes it answers ARP/ND for
}

// config returns the running configuration, which a reload may replace.
func (r *runner) config() *config.Config {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	return r.cfg
}

func (r *runner) status() statusReply {
	cfg := r.config()
	s := statusReply{
		Version: version, Go: runtime.Version(), PID: os.Getpid(), Started: r.started,
		Uptime: time.Since(r.started).Round(time.Second).String(), Config: cfg.Path, Mode: string(cfg.Mode),
		DataPath: cfg.DataPath.IO, Workers: r.d.Workers(), WorkerCPUs: r.d.CPUs(), Spread: r.spread(cfg), Metrics: cfg.Metrics.Listen,
	}
	if cfg.Prefix.IsValid() {
		s.Prefix = cfg.Prefix.String()
	}
	if r.gate != nil && cfg.BGP != nil {
		s.BGP = r.gate.status(cfg.BGP.Drain)
	}
	if b, err := os.ReadFile(cfg.Path); err == nil {
		h := sha256.Sum256(b)
		s.ConfigHash = hex.EncodeToString(h[:])
	}
	for _, side := range []xlat.Side{xlat.Side6, xlat.Side4} {
		p := r.ports[side]
		if p == nil {
			continue
		}
		ps := portStatus{Side: side.String(), Interface: p.Name(), MAC: p.MAC().String(), MTU: p.MTU(), Link: linkState(p.Name())}
		if side == xlat.Side6 {
			ps.Answers = append(ps.Answers, r.d.ND().LinkLocal().String())
			if cfg.IPv6Addr.IsValid() {
				ps.Answers = append(ps.Answers, cfg.IPv6Addr.String())
			}
			if cfg.Prefix.IsValid() {
				ps.Answers = append(ps.Answers, cfg.Prefix.String()+" (proxy)")
			}
			for _, e := range cfg.EAM {
				ps.Answers = append(ps.Answers, e.IPv6.String()+" (EAM)")
			}
		} else {
			if cfg.IPv4Addr.IsValid() {
				ps.Answers = append(ps.Answers, cfg.IPv4Addr.String())
			}
			for _, p := range cfg.Pool4 {
				ps.Answers = append(ps.Answers, p.String()+" (pool4)")
			}
			if cfg.DynamicPool.IsValid() {
				ps.Answers = append(ps.Answers, cfg.DynamicPool.String()+" (dynamic pool)")
			}
			for _, e := range cfg.EAM {
				ps.Answers = append(ps.Answers, e.IPv4.String()+" (EAM)")
			}
		}
		s.Ports = append(s.Ports, ps)
	}
	return s
}

// linkState reads the interface's operational state from sysfs (in
// nat64br's own network namespace).
func linkState(name string) string {
	b, err := os.ReadFile("/sys/class/net/" + name + "/operstate")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

type statsReply struct {
	Counters map[string]uint64 `json:"counters"` // every counter, zeros included
	Ports    map[string]any    `json:"ports"`
	NAT64    *xlat.NATStats    `json:"nat64,omitempty"`
}

func (r *runner) statsReply() statsReply {
	k := r.d.Counters()
	s := statsReply{Counters: map[string]uint64{}, Ports: map[string]any{}}
	for c := dataplane.Counter(0); c < dataplane.NumCounters; c++ {
		if c == dataplane.Drop(0) || c == dataplane.Reply(0) { // ReasonNone
			continue
		}
		s.Counters[c.String()] = k[c]
	}
	ports := r.portStats()
	for _, side := range []xlat.Side{xlat.Side6, xlat.Side4} {
		s.Ports[side.String()] = ports[side]
	}
	if r.config().Mode == config.ModeNAT64 {
		st := r.d.Translator().NATStats()
		s.NAT64 = &st
	}
	return s
}

type neighborReply struct {
	Side  string `json:"side"`
	Addr  string `json:"address"`
	MAC   string `json:"mac"`
	State string `json:"state"`
}

func (r *runner) neighbors() []neighborReply {
	out := []neighborReply{}
	for _, n := range r.d.ND().Cache().Neighbors() {
		out = append(out, neighborReply{"ipv6", n.Addr.String(), n.MAC.String(), n.State.String()})
	}
	for _, n := range r.d.ARP().Cache().Neighbors() {
		out = append(out, neighborReply{"ipv4", n.Addr.String(), n.MAC.String(), n.State.String()})
	}
	return out
}

type poolReply struct {
	Pool4   []xlat.Pool4Use `json:"pool4,omitempty"`
	Dynamic *dynamicUse     `json:"dynamic_pool,omitempty"`
}

type dynamicUse struct {
	Prefix    string `json:"prefix"`
	Addresses uint64 `json:"addresses"`
	Mappings  int    `json:"mappings"`
}

// pool reports pool4's use (none in SIIT mode) and the dynamic pool's.
func (r *runner) pool() poolReply {
	cfg := r.config()
	tr := r.d.Translator()
	p := poolReply{Pool4: tr.Pool4Usage(nil)}
	if cfg.DynamicPool.IsValid() {
		ms, _ := tr.DynamicMappings()
		p.Dynamic = &dynamicUse{Prefix: cfg.DynamicPool.String(), Addresses: uint64(1) << (32 - cfg.DynamicPool.Bits()), Mappings: len(ms)}
	}
	return p
}

// maxListed bounds a bib or sessions reply; the filters narrow it down.
const maxListed = 100000

type natListReply struct {
	Entries   []xlat.NATEntry `json:"entries"`
	Truncated bool            `json:"truncated,omitempty"`
}

func (r *runner) natList(q *http.Request, sessions bool) (natListReply, error) {
	f, err := decodeNATFilter(q.URL.Query())
	if err != nil {
		return natListReply{}, err
	}
	f.Now = time.Now()
	out := natListReply{Entries: []xlat.NATEntry{}}
	fn := func(e xlat.NATEntry) bool {
		if len(out.Entries) == maxListed {
			out.Truncated = true
			return false
		}
		out.Entries = append(out.Entries, e)
		return true
	}
	tr := r.d.Translator()
	if sessions {
		tr.Sessions(f, fn)
	} else {
		tr.BIB(f, fn)
	}
	return out, nil
}

type reloadReply struct {
	Applied  bool     `json:"applied"`
	Changed  []string `json:"changed,omitempty"`
	Problems []string `json:"problems,omitempty"`
}
