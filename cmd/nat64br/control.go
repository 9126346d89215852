package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/netutil"

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
	srv     *http.Server
	path    string
	madeDir bool // nat64br made the socket's directory (sandbox.go hands it over)
}

func startControl(r *runner, path string) (*controlServer, error) {
	_, serr := os.Lstat(filepath.Dir(path))
	madeDir := errors.Is(serr, fs.ErrNotExist)
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
	return &controlServer{srv: r.serveHTTP(ln, r.controlMux(), "control socket", controlLimits), path: path, madeDir: madeDir}, nil
}

// controlMux serves the routes of controlRoutes: a request is decoded
// there (decodeArgs), then handled here.
func (r *runner) controlMux() *http.ServeMux {
	var names [3]string
	for _, side := range []xlat.Side{xlat.Side6, xlat.Side4} {
		names[side] = side.String()
		if r.ports[side] != nil {
			names[side] = r.ports[side].Name()
		}
	}
	value := func(f func() any) func(http.ResponseWriter, *http.Request, request) {
		return func(w http.ResponseWriter, _ *http.Request, _ request) { reply(w, f(), nil) }
	}
	listings := make(chan struct{}, maxListings)
	handlers := map[string]func(http.ResponseWriter, *http.Request, request){
		"GET /status":    value(func() any { return r.status() }),
		"GET /stats":     value(func() any { return r.statsReply() }),
		"GET /neighbors": value(func() any { return r.neighbors() }),
		"GET /pool":      value(func() any { return r.pool() }),
		"GET /bib": func(w http.ResponseWriter, q *http.Request, a request) {
			serveNATList(w, q, a, r.d.Translator(), false, listings)
		},
		"GET /sessions": func(w http.ResponseWriter, q *http.Request, a request) {
			serveNATList(w, q, a, r.d.Translator(), true, listings)
		},
		"POST /trace": func(w http.ResponseWriter, q *http.Request, a request) { serveTrace(r.d, w, q, a.Trace, names) },
		"POST /reload": func(w http.ResponseWriter, _ *http.Request, _ request) {
			changed, problems := r.reloadResult()
			reply(w, reloadReply{Applied: problems == nil, Changed: changed, Problems: problems}, nil)
		},
	}
	mux := http.NewServeMux()
	for _, c := range controlRoutes {
		h := handlers[c.route]
		if h == nil {
			panic("control route without a handler: " + c.route)
		}
		mux.HandleFunc(c.route, func(w http.ResponseWriter, q *http.Request) {
			a, err := decodeArgs(c.route, q)
			if errors.Is(err, errBody) {
				http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
				return
			}
			if err != nil {
				reply(w, nil, err)
				return
			}
			h(w, q, a)
		})
	}
	return mux
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

// httpLimits bound a server of the control plane (the control socket,
// the metrics endpoint), so that clients, slow, idle or many, cannot
// take the daemon's memory or descriptors.
type httpLimits struct {
	conns       int           // connections served at once; the next ones wait in the listen backlog, unaccepted
	header      time.Duration // to read a request's header, from the connection's accept or its last reply
	read        time.Duration // to read a whole request; 0: header is the bound (a control request has no body)
	write       time.Duration // to write a reply, once it is read; 0: the handlers bound each write (writeStall)
	idle        time.Duration // a kept-alive connection's wait for its next request (none are: one request a connection)
	headerBytes int           // the largest request header
}

// The servers' limits. The control socket serves listings and traces
// that write for as long as they have something to write: each of their
// writes must finish within writeStall instead.
var (
	controlLimits = httpLimits{conns: 32, header: 5 * time.Second, idle: 30 * time.Second, headerBytes: 8 << 10}
	metricsLimits = httpLimits{conns: 32, header: 5 * time.Second, read: 10 * time.Second, write: 30 * time.Second, idle: 30 * time.Second, headerBytes: 8 << 10}
)

// writeStall bounds each write of a streamed reply: a client that
// stops reading for that long is cut off.
const writeStall = 10 * time.Second

// serveHTTP serves h on ln within l until the server it returns is
// closed; if it stops otherwise, the log says so, naming it what. A
// request with a body is refused (413): none of the daemon's has one.
func (r *runner) serveHTTP(ln net.Listener, h http.Handler, what string, l httpLimits) *http.Server {
	ln = netutil.LimitListener(ln, l.conns)
	srv := &http.Server{ReadHeaderTimeout: l.header, ReadTimeout: l.read, WriteTimeout: l.write, IdleTimeout: l.idle, MaxHeaderBytes: l.headerBytes,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, q *http.Request) {
			if q.ContentLength != 0 {
				w.Header().Set("Connection", "close")
				http.Error(w, "a request with a body: none has one", http.StatusRequestEntityTooLarge)
				return
			}
			h.ServeHTTP(w, q)
		})}
	// One request a connection: a client that keeps its connection open
	// after its reply would hold one of the l.conns places.
	srv.SetKeepAlivesEnabled(false)
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

// reply writes v, or err, as JSON, within writeStall.
func reply(w http.ResponseWriter, v any, err error) {
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(writeStall))
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
	Memory     memoryStatus `json:"memory"`
}

// memoryStatus is the memory budget and the keys sized to it.
type memoryStatus struct {
	Budget memBudget `json:"budget"`
	Sized  []string  `json:"sized"` // "key=value"; keys the configuration sets are not sized
}

type portStatus struct {
	Side      string   `json:"side"`
	Interface string   `json:"interface"`
	MAC       string   `json:"mac"`
	Link      string   `json:"link"` // operstate
	MTU       int      `json:"mtu"`
	Answers   []string `json:"answers_for"` // addresses and prefixes it answers ARP/ND for
}

// config returns the running configuration, which a reload may replace;
// it does not wait for a reload that is reading or validating a file.
func (r *runner) config() *config.Config {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cfg
}

func (r *runner) status() statusReply {
	cfg := r.config()
	s := statusReply{
		Version: version, Go: runtime.Version(), PID: os.Getpid(), Started: r.started,
		Uptime: time.Since(r.started).Round(time.Second).String(), Config: cfg.Path, Mode: string(cfg.Mode),
		DataPath: cfg.DataPath.IO, Workers: r.d.Workers(), WorkerCPUs: r.d.CPUs(), Spread: r.spread(cfg), Metrics: cfg.Metrics.Listen,
	}
	r.mu.Lock()
	s.Memory = memoryStatus{Budget: r.mem, Sized: r.sized}
	r.mu.Unlock()
	if cfg.Prefix.IsValid() {
		s.Prefix = cfg.Prefix.String()
	}
	if r.gate != nil && cfg.BGP != nil {
		s.BGP = r.gate.status(cfg.BGP.Drain)
	}
	if b, err := readConfigFile(cfg.Path); err == nil {
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

// linkState is the interface's operational state, "unknown" if it cannot
// be read.
func linkState(name string) string {
	st, err := operState(name)
	if err != nil {
		return "unknown"
	}
	return st
}

// operState reads the interface's operational state from sysfs (in
// nat64br's own network namespace).
func operState(name string) (string, error) {
	b, err := os.ReadFile("/sys/class/net/" + name + "/operstate")
	return strings.TrimSpace(string(b)), err
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

// maxListed bounds a bib or sessions reply (and its limit argument);
// the filters narrow it down.
const maxListed = 100000

// maxListings is how many bib and sessions listings run at once; the
// next ones wait for one to finish (or their client to give up). Each
// walks the tables a shard at a time: its memory is a shard's entries
// and a write buffer, whatever the tables hold.
const maxListings = 2

// natListReply is the reply to GET /bib and /sessions, which
// serveNATList writes as it walks the tables, an entry a line.
type natListReply struct {
	Entries   []xlat.NATEntry `json:"entries"`
	Truncated bool            `json:"truncated,omitempty"` // there were more than the limit
}

// serveNATList streams the sessions (or BIB entries) of tr that a
// selects, at most a.Limit of them, as a natListReply, once it has a
// place in listings. It copies the tables a shard at a time
// (xlat.Translator.Sessions): the data path waits for a shard's copy,
// never for the client.
func serveNATList(w http.ResponseWriter, q *http.Request, a request, tr *xlat.Translator, sessions bool, listings chan struct{}) {
	select {
	case listings <- struct{}{}:
		defer func() { <-listings }()
	case <-q.Context().Done():
		return
	}
	w.Header().Set("Content-Type", "application/json")
	rc := http.NewResponseController(w)
	bw := bufio.NewWriterSize(stallWriter{w, rc}, 32<<10)
	var eb []byte
	f := a.Filter
	f.Now = time.Now()
	n, truncated := 0, false
	bw.WriteString("{\n  \"entries\": [")
	fn := func(e xlat.NATEntry) bool {
		if n == a.Limit {
			truncated = true
			return false
		}
		if n > 0 {
			bw.WriteString(",")
		}
		bw.WriteString("\n    ")
		n++
		eb = appendNATEntry(eb[:0], &e)
		_, err := bw.Write(eb)
		return err == nil // else the client is gone, or stalled for writeStall
	}
	if sessions {
		tr.Sessions(f, fn)
	} else {
		tr.BIB(f, fn)
	}
	bw.WriteString("\n  ]")
	if truncated {
		bw.WriteString(",\n  \"truncated\": true")
	}
	bw.WriteString("\n}\n")
	bw.Flush()
}

// appendNATEntry appends e to b as encoding/json writes it (field names,
// order and formats), without its reflection and allocations: a listing
// of 100,000 entries produced some 1.5 GB of garbage a second with 100
// clients, which the heap carried until the next collection.
func appendNATEntry(b []byte, e *xlat.NATEntry) []byte {
	addr := func(b []byte, name string, a netip.AddrPort) []byte {
		b = append(b, `,"`...)
		b = append(b, name...)
		b = append(b, `":"`...)
		b, _ = a.AppendText(b) // a zero one is "", as in MarshalText
		return append(b, '"')
	}
	b = append(b, `{"Proto":`...)
	b = strconv.AppendQuote(b, e.Proto) // tcp, udp or icmp
	b = addr(b, "IPv6", e.IPv6)
	b = addr(b, "IPv4", e.IPv4)
	b = addr(b, "Remote", e.Remote)
	b = append(b, `,"State":`...)
	b = strconv.AppendQuote(b, e.State) // a TCP state's name
	b = append(b, `,"Expires":"`...)
	b = e.Expires.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","Static":`...)
	b = strconv.AppendBool(b, e.Static)
	b = append(b, `,"Sessions":`...)
	b = strconv.AppendInt(b, int64(e.Sessions), 10)
	return append(b, '}')
}

// stallWriter writes to w, each write within writeStall.
type stallWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (s stallWriter) Write(b []byte) (int, error) {
	_ = s.rc.SetWriteDeadline(time.Now().Add(writeStall))
	return s.w.Write(b)
}

type reloadReply struct {
	Applied  bool     `json:"applied"`
	Changed  []string `json:"changed,omitempty"`
	Problems []string `json:"problems,omitempty"`
}
