package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nat64br/nat64br/config"
	"github.com/nat64br/nat64br/dataplane"
)

// The command line: one table of commands and their flags (commands) that
// parsing, help, the shell completions (completion.go) and the man page
// (manpage.go) all read. Flags are written --flag everywhere; the flag
// package underneath still takes -flag. Flags may follow positional
// arguments (import-tayga FILE --masquerade ADDR); after "--" everything is
// positional.

// flagKind is the type of a flag's value.
type flagKind int

const (
	_ flagKind = iota
	flagBool
	flagString
	flagInt
	flagDuration
)

// completeKind says what completes a flag's value or a positional argument.
type completeKind int

const (
	completeNone      completeKind = iota // free text
	completeFile                          // a file name
	completeInterface                     // a network interface
	completeValues                        // one of flagSpec.values
)

// flagSpec is one flag of a command.
type flagSpec struct {
	name     string
	short    string // a one-letter alias (-q for --quiet), or ""
	kind     flagKind
	arg      string // the value's placeholder in usage (FILE, ADDR); none for a bool
	def      string // the default, as the flag package parses it; "" for none
	help     string
	required bool
	complete completeKind
	values   []string // with completeValues
}

// command is one subcommand of nat64br.
type command struct {
	name     string
	args     string // the positional arguments in the synopsis, "" for none
	minArgs  int
	maxArgs  int
	operator bool   // talks to the running daemon's control socket
	summary  string // one line, for the command list
	about    string // what it does, for its help and the man page
	flags    []flagSpec
	complete completeKind // what completes the positional arguments
	values   []string     // with completeValues
	run      func(in *invocation) int
}

// socketFlags are the flags of every command that talks to the control socket.
var socketFlags = []flagSpec{
	{name: "socket", kind: flagString, arg: "PATH", complete: completeFile,
		help: "the control socket (default: the configuration's control-socket, or " + config.DefaultControlSocket + ")"},
	{name: "config", kind: flagString, arg: "FILE", complete: completeFile,
		help: "take control-socket from this configuration file"},
}

// The output flags: the daemon's JSON reply, or the table as CSV.
var (
	jsonFlag = flagSpec{name: "json", kind: flagBool, help: "print the daemon's JSON reply"}
	csvFlag  = flagSpec{name: "csv", kind: flagBool, help: "print the table as CSV (RFC 4180), with a header line"}
)

// outputFlags are the flags of the commands that print tables.
var outputFlags = []flagSpec{jsonFlag, csvFlag}

// ctlFlags returns the flags of an operator command that prints tables:
// extra, then the socket and output flags.
func ctlFlags(extra ...flagSpec) []flagSpec {
	return append(append(append([]flagSpec{}, extra...), socketFlags...), outputFlags...)
}

// natFilterFlags select the entries bib and sessions list.
var natFilterFlags = []flagSpec{
	{name: "proto", kind: flagString, arg: "PROTO", complete: completeValues, values: []string{"tcp", "udp", "icmp"},
		help: "only this protocol: tcp, udp or icmp"},
	{name: "addr", kind: flagString, arg: "ADDR", help: "only entries with this IPv6 or IPv4 address (host, pool4 or remote)"},
	{name: "limit", kind: flagInt, arg: "N", def: "0", help: "at most N entries (0: as many as the daemon lists, at most 100000)"},
}

// commands is the command table, in the order help lists them.
var commands []*command

func init() {
	commands = []*command{
		{name: "run", summary: "run in the wire between two interfaces",
			about: "Runs nat64br in the wire, in the foreground, until SIGINT or SIGTERM. SIGHUP reloads the configuration; SIGUSR1 logs the counters.",
			flags: []flagSpec{
				{name: "config", kind: flagString, arg: "FILE", required: true, complete: completeFile, help: "the configuration file"},
				{name: "take-over", kind: flagBool, help: "take the ports over from the kernel: disable its IPv6 and ARP there and flush their addresses"},
				{name: "log-format", kind: flagString, arg: "FORMAT", complete: completeValues, values: []string{"text", "json"},
					help: "text or json (default: the configuration's log.format)"},
				{name: "log-level", kind: flagString, arg: "LEVEL", complete: completeValues, values: []string{"debug", "info", "warn", "error"},
					help: "debug, info, warn or error (default: the configuration's log.level)"},
				{name: "cpuprofile", kind: flagString, arg: "FILE", complete: completeFile, help: "write a CPU profile (pprof) of the whole run to FILE"},
				{name: "wait-for-interfaces", kind: flagDuration, arg: "DURATION", def: "0s",
					help: "wait up to this long for the configured interfaces to appear and come up (a container's links are often added after it starts)"},
			},
			run: cmdRun},
		{name: "replay", summary: "translate pcap files",
			about: "Runs the data plane over pcap or pcapng captures of the frames arriving on each side, merged by timestamp, " +
				"and writes what leaves each side to --out6 and --out4. Prints the counters.",
			flags: []flagSpec{
				{name: "config", kind: flagString, arg: "FILE", required: true, complete: completeFile, help: "the configuration file"},
				{name: "in6", kind: flagString, arg: "PCAP", complete: completeFile, help: "capture of frames arriving on the IPv6 side"},
				{name: "in4", kind: flagString, arg: "PCAP", complete: completeFile, help: "capture of frames arriving on the IPv4 side"},
				{name: "out6", kind: flagString, arg: "PCAP", required: true, complete: completeFile, help: "pcap file for frames leaving on the IPv6 side"},
				{name: "out4", kind: flagString, arg: "PCAP", required: true, complete: completeFile, help: "pcap file for frames leaving on the IPv4 side"},
				{name: "quiet", short: "q", kind: flagBool, help: "do not print the counters"},
			},
			run: cmdReplay},
		{name: "check-config", args: "[FILE]", maxArgs: 1, complete: completeFile,
			summary: "validate a configuration file and print every problem",
			about:   "Validates a configuration file (FILE or --config FILE) and prints every problem with its file, line and key; exits 1 if there is any.",
			flags: []flagSpec{
				{name: "config", kind: flagString, arg: "FILE", complete: completeFile, help: "the configuration file, instead of FILE"},
			},
			run: cmdCheckConfig},
		{name: "import-tayga", args: "FILE", minArgs: 1, maxArgs: 1, complete: completeFile,
			summary: "convert a tayga.conf into a configuration",
			about:   "Converts the translation part of a tayga.conf into a nat64br configuration, checks it and prints it; notes and warnings go to stderr.",
			flags: []flagSpec{
				{name: "from-host", kind: flagBool, help: "read this host's default routes and addresses (netlink) for the ports, subnets and gateways, and check nat64br's addresses against the host's"},
				{name: "masquerade", kind: flagString, arg: "ADDR", help: "the IPv4 address iptables MASQUERADE hid the dynamic pool behind: makes a stateful NAT64 sharing it (pool4) instead of the pool"},
				{name: "ipv6-interface", kind: flagString, arg: "IF", def: "eth0", complete: completeInterface, help: "the port on the IPv6-only segment (with --from-host: that of the IPv6 default route)"},
				{name: "ipv4-interface", kind: flagString, arg: "IF", def: "eth1", complete: completeInterface, help: "the port on the IPv4 segment (with --from-host: that of the IPv4 default route)"},
			},
			run: cmdImportTAYGA},
		{name: "pool4-plan", args: "PREFIX", minArgs: 1, maxArgs: 1,
			summary: "split one IPv4 prefix into disjoint pool4 slices for N translators",
			about: "Cuts PREFIX into equal power-of-two slices, one per node behind equal-cost routes (BGP ECMP), and prints each node's slice " +
				"with its pool4 line. When N is not a power of two, the slices left over belong to no node and are listed as spare. " +
				"With --config FILE --node I, checks that configuration as node I's instead: its pool4 (or dynamic-pool) inside its slice, " +
				"and its ipv4-addr, gateway, ipv4-subnet and EAM entries clear of the other nodes' slices; exits 1 on a problem.",
			flags: []flagSpec{
				{name: "nodes", kind: flagInt, arg: "N", help: "the number of nodes (required)"},
				{name: "config", kind: flagString, arg: "FILE", complete: completeFile, help: "check this configuration against its slice (with --node)"},
				{name: "node", kind: flagInt, arg: "I", help: "the node, from 1, that --config is"},
				{name: "json", kind: flagBool, help: "print the plan as JSON"},
			},
			run: cmdPool4Plan},
		{name: "status", operator: true, summary: "ports, link state, addresses answered for, uptime, configuration file and its hash",
			flags: ctlFlags(), run: cmdCtl},
		{name: "stats", operator: true, summary: "every counter",
			about: "Prints every counter that is not zero (with --explain: every counter, and what it counts).",
			flags: ctlFlags(flagSpec{name: "explain", kind: flagBool, help: "say what each drop and reply reason means"}), run: cmdCtl},
		{name: "bib", operator: true, summary: "NAT64 BIB entries",
			about: "Lists the NAT64 binding information base: which IPv6 transport address has which pool4 one.", flags: ctlFlags(natFilterFlags...), run: cmdCtl},
		{name: "sessions", operator: true, summary: "NAT64 sessions",
			about: "Lists the NAT64 sessions, with their state and when they expire.", flags: ctlFlags(natFilterFlags...), run: cmdCtl},
		{name: "neighbors", operator: true, summary: "the neighbor caches of both ports", flags: ctlFlags(), run: cmdCtl},
		{name: "pool", operator: true, summary: "pool4 ports in use per address and protocol, the dynamic pool", flags: ctlFlags(), run: cmdCtl},
		{name: "reload", operator: true, summary: "validate and apply the configuration file, print what changed or why not",
			about: "Asks the daemon to validate and apply its configuration file; exits 1 if it refuses.",
			flags: append(append([]flagSpec{}, socketFlags...), jsonFlag), run: cmdCtl},
		{name: "trace", operator: true, summary: "the next dropped frames into a pcapng file",
			about: "Writes the next frames the running daemon drops into a pcapng file; each packet's comment names its reason.",
			flags: append([]flagSpec{
				{name: "pcap", kind: flagString, arg: "FILE", required: true, complete: completeFile, help: "the pcapng file to write"},
				{name: "reason", kind: flagString, arg: "REASON", def: "any", complete: completeValues, values: dropReasons(),
					help: "the drop reason to capture, as nat64br stats names it (drop_ is optional), or any"},
				{name: "count", kind: flagInt, arg: "N", def: "10", help: "how many frames"},
				{name: "timeout", kind: flagDuration, arg: "DURATION", def: "1m0s", help: "stop waiting for frames after this long"},
			}, socketFlags...),
			run: cmdTrace},
		{name: "version", summary: "print the version", run: cmdVersion},
		{name: "completion", args: "SHELL", minArgs: 1, maxArgs: 1, complete: completeValues, values: []string{"bash", "fish", "zsh"},
			summary: "print the shell completion script for bash, zsh or fish",
			about: "Prints the completion script for SHELL (bash, zsh or fish). Load it with: source <(nat64br completion bash); " +
				"or install it where the shell looks: make completions writes all three.",
			run: cmdCompletion},
		{name: "man", summary: "print the man page, nat64br(8), in roff",
			about: "Prints the man page in roff (section 8); make man writes it. View it with: nat64br man | man -l -", run: cmdMan},
		{name: "help", args: "[COMMAND]", maxArgs: 1, summary: "print the help of nat64br or of a command",
			complete: completeValues, run: cmdHelp},
	}
	help := commands[len(commands)-1]
	for _, c := range commands {
		help.values = append(help.values, c.name)
		if c.about == "" {
			c.about = strings.ToUpper(c.summary[:1]) + c.summary[1:] + "."
		}
	}
}

// dropReasons returns "any" and the names of the counters trace can capture.
func dropReasons() []string {
	r := []string{"any"}
	for c := dataplane.Counter(0); c < dataplane.NumCounters; c++ {
		if c.IsDrop() {
			r = append(r, c.String())
		}
	}
	return r
}

// lookupCommand returns the command called name, or nil.
func lookupCommand(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// invocation is a command with its flags parsed.
type invocation struct {
	cmd            *command
	fs             *flag.FlagSet
	args           []string // the positional arguments
	stdout, stderr io.Writer
}

func (in *invocation) value(name string) any {
	f := in.fs.Lookup(name)
	if f == nil {
		panic("nat64br " + in.cmd.name + " has no flag --" + name)
	}
	return f.Value.(flag.Getter).Get()
}

// str returns the value of the string flag name.
func (in *invocation) str(name string) string { return in.value(name).(string) }

// bool returns the value of the boolean flag name.
func (in *invocation) bool(name string) bool { return in.value(name).(bool) }

// int returns the value of the integer flag name.
func (in *invocation) int(name string) int { return in.value(name).(int) }

// duration returns the value of the duration flag name.
func (in *invocation) duration(name string) time.Duration { return in.value(name).(time.Duration) }

// isSet reports whether flag name was given on the command line.
func (in *invocation) isSet(name string) bool {
	set := false
	in.fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// flagSet makes the flag set of c.
func (c *command) flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	for _, f := range c.flags {
		switch f.kind {
		case flagBool:
			fs.Bool(f.name, f.def == "true", f.help)
		case flagString:
			fs.String(f.name, f.def, f.help)
		case flagInt:
			var n int
			fmt.Sscan(f.def, &n)
			fs.Int(f.name, n, f.help)
		case flagDuration:
			d, _ := time.ParseDuration(f.def)
			fs.Duration(f.name, d, f.help)
		default:
			panic("nat64br " + c.name + " --" + f.name + ": no kind")
		}
		if f.short != "" {
			fs.Var(fs.Lookup(f.name).Value, f.short, f.help)
		}
	}
	return fs
}

// parse parses args for c. It returns the invocation, or nil and the exit
// status when the command line asked for help (0, the help on stdout) or
// is wrong (2, the problem on stderr).
func (c *command) parse(args []string, stdout, stderr io.Writer) (*invocation, int) {
	fs := c.flagSet()
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				c.usage(stdout)
				return nil, 0
			}
			return nil, c.fail(stderr, dashes(err.Error()))
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		// The flag package stops at the first positional argument, and
		// drops a "--" that ends the flags.
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	switch {
	case len(pos) < c.minArgs:
		return nil, c.fail(stderr, "missing "+c.args)
	case len(pos) > c.maxArgs && c.maxArgs == 0:
		return nil, c.fail(stderr, fmt.Sprintf("takes no arguments, got %q", pos))
	case len(pos) > c.maxArgs:
		return nil, c.fail(stderr, fmt.Sprintf("too many arguments: %q (usage: %s)", pos, c.synopsis()))
	}
	for _, f := range c.flags {
		if f.required && fs.Lookup(f.name).Value.String() == "" {
			return nil, c.fail(stderr, "--"+f.name+" is required")
		}
	}
	return &invocation{cmd: c, fs: fs, args: pos, stdout: stdout, stderr: stderr}, -1
}

// dashes writes the flag package's "-flag" as "--flag" in msg.
func dashes(msg string) string {
	for _, p := range []string{"not defined: -", "for flag -", "needs an argument: -", " for -"} {
		msg = strings.Replace(msg, p, p+"-", 1)
	}
	return msg
}

// fail prints msg and where to find c's usage on w, and returns 2.
func (c *command) fail(w io.Writer, msg string) int {
	fmt.Fprintf(w, "nat64br %s: %s\nRun 'nat64br %s --help' for usage.\n", c.name, msg, c.name)
	return 2
}

// synopsis returns c's one-line usage: nat64br NAME [flags] ARGS.
func (c *command) synopsis() string {
	var b strings.Builder
	b.WriteString("nat64br " + c.name)
	for _, f := range c.flags {
		if f.required {
			fmt.Fprintf(&b, " --%s %s", f.name, f.arg)
		}
	}
	if len(c.flags) > 0 {
		b.WriteString(" [flags]")
	}
	if c.args != "" {
		b.WriteString(" " + c.args)
	}
	return b.String()
}

// usage returns "--name ARG" for f, after "-s, " if it has a short alias.
func (f flagSpec) usage() string {
	u := "--" + f.name
	if f.kind != flagBool {
		u += " " + f.arg
	}
	if f.short != "" {
		u = "-" + f.short + ", " + u
	}
	return u
}

// helpText returns f's help and its default.
func (f flagSpec) helpText() string {
	h := f.help
	if f.required {
		h += " (required)"
	}
	if f.def != "" && f.def != "0s" && f.def != "false" {
		h += " (default " + f.def + ")"
	}
	return h
}

// usage prints c's help on w.
func (c *command) usage(w io.Writer) {
	fmt.Fprintf(w, "usage: %s\n\n%s\n", c.synopsis(), c.about)
	if c.operator {
		fmt.Fprintf(w, "\nIt talks to the running daemon's control socket (root).\n")
	}
	fmt.Fprintf(w, "\nflags:\n")
	for _, f := range c.flags {
		fmt.Fprintf(w, "  %s\n        %s\n", f.usage(), f.helpText())
	}
	fmt.Fprintf(w, "  -h, --help\n        print this help\n")
}

// usage prints nat64br's help on w.
func usage(w io.Writer) {
	fmt.Fprint(w, "usage: nat64br <command> [flags] [arguments]\n\ncommands:\n")
	list := func(operator bool) {
		for _, c := range commands {
			if c.operator == operator {
				fmt.Fprintf(w, "  %-13s %s\n", c.name, c.summary)
			}
		}
	}
	list(false)
	fmt.Fprint(w, "\noperator commands, through the running daemon's control socket (root; --config FILE or --socket PATH):\n")
	list(true)
	fmt.Fprint(w, "\nRun \"nat64br <command> --help\" for a command's flags.\n")
}

// cmdHelp is nat64br help [COMMAND].
func cmdHelp(in *invocation) int {
	if len(in.args) == 0 {
		usage(in.stdout)
		return 0
	}
	c := lookupCommand(in.args[0])
	if c == nil {
		fmt.Fprintf(in.stderr, "nat64br help: unknown command %q\n", in.args[0])
		return 2
	}
	c.usage(in.stdout)
	return 0
}

// cmdVersion is nat64br version.
func cmdVersion(in *invocation) int {
	fmt.Fprintf(in.stdout, "nat64br %s\n", version)
	return 0
}
