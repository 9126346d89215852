package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// runCLI runs the command line args and returns its exit status, stdout
// and stderr.
func runCLI(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// TestHelp asks every command for its help, in every spelling: exit 0,
// the usage on stdout, nothing on stderr.
func TestHelp(t *testing.T) {
	for _, c := range commands {
		for _, h := range []string{"-h", "--help", "-help"} {
			t.Run(c.name+" "+h, func(t *testing.T) {
				code, stdout, stderr := runCLI(c.name, h)
				if code != 0 || stderr != "" {
					t.Fatalf("exit %d, stderr %q", code, stderr)
				}
				if !strings.HasPrefix(stdout, "usage: nat64br "+c.name) {
					t.Errorf("stdout:\n%s", stdout)
				}
				for _, f := range c.flags {
					if !strings.Contains(stdout, "  "+f.usage()+"\n") {
						t.Errorf("no %s in\n%s", f.usage(), stdout)
					}
				}
				if strings.Contains(stdout, " -"+c.name) || strings.Contains(stdout, "\n  -config") {
					t.Errorf("single-dash flag in\n%s", stdout)
				}
			})
		}
		t.Run("help "+c.name, func(t *testing.T) {
			code, stdout, _ := runCLI("help", c.name)
			_, want, _ := runCLI(c.name, "--help")
			if code != 0 || stdout != want {
				t.Errorf("exit %d:\n%s\nwant\n%s", code, stdout, want)
			}
		})
	}
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, stdout, stderr := runCLI(args...)
			if code != 0 || stderr != "" || !strings.HasPrefix(stdout, "usage: nat64br <command>") {
				t.Fatalf("exit %d, stderr %q, stdout\n%s", code, stderr, stdout)
			}
			for _, c := range commands {
				if !strings.Contains(stdout, "\n  "+c.name+" ") {
					t.Errorf("%s is not listed", c.name)
				}
			}
		})
	}
}

// TestBadCommandLine checks that every command refuses an unknown flag
// and wrong arguments with exit status 2 and a message on stderr only.
func TestBadCommandLine(t *testing.T) {
	for _, c := range commands {
		t.Run(c.name+" unknown flag", func(t *testing.T) {
			code, stdout, stderr := runCLI(c.name, "--no-such-flag")
			if code != 2 || stdout != "" || !strings.Contains(stderr, "nat64br "+c.name+": flag provided but not defined: --no-such-flag") ||
				!strings.Contains(stderr, "nat64br "+c.name+" --help") {
				t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
			}
		})
		t.Run(c.name+" too many arguments", func(t *testing.T) {
			args := []string{c.name}
			for range c.maxArgs + 1 {
				args = append(args, "x")
			}
			if code, stdout, stderr := runCLI(args...); code != 2 || stdout != "" || stderr == "" {
				t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
			}
		})
	}
	for _, tc := range []struct {
		name   string
		args   []string
		stderr string
	}{
		{"no command", nil, "usage: nat64br <command>"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"help for an unknown command", []string{"help", "frobnicate"}, `unknown command "frobnicate"`},
		{"missing required flag", []string{"trace", "--count", "1"}, "nat64br trace: --pcap is required"},
		{"missing positional", []string{"import-tayga", "--masquerade", "192.0.2.1"}, "nat64br import-tayga: missing FILE"},
		{"bad value", []string{"trace", "--pcap", "x", "--count", "many"}, `invalid value "many" for flag --count`},
		{"flag without value", []string{"bib", "--proto"}, "flag needs an argument: --proto"},
		{"bad boolean", []string{"stats", "--json=maybe"}, `invalid boolean value "maybe" for --json`},
		{"check-config twice", []string{"check-config", "--config", "a.yaml", "b.yaml"}, "not both"},
		{"check-config nothing", []string{"check-config"}, "missing FILE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(tc.args...)
			if code != 2 || stdout != "" || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("exit %d, stdout %q, stderr %q, want %q", code, stdout, stderr, tc.stderr)
			}
		})
	}
}

// TestFlagsAfterArguments gives flags before, after and around the
// positional argument, and after "--".
func TestFlagsAfterArguments(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "tayga.conf")
	if err := os.WriteFile(conf, []byte("prefix 64:ff9b::/96\nipv4-addr 100.65.0.1\ndynamic-pool 100.65.0.0/16\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"flag first", []string{"--masquerade", "198.51.100.7", conf}, 0, `pool4: ["198.51.100.7/32"]`},
		{"flag last", []string{conf, "--masquerade", "198.51.100.7"}, 0, `pool4: ["198.51.100.7/32"]`},
		{"single dash last", []string{conf, "-masquerade=198.51.100.7"}, 0, `pool4: ["198.51.100.7/32"]`},
		{"around", []string{"--ipv6-interface", "v6", conf, "--masquerade", "198.51.100.7"}, 0, "ipv6-interface: v6\n"},
		{"after --", []string{"--masquerade", "198.51.100.7", "--", conf}, 0, `pool4: ["198.51.100.7/32"]`},
		{"-- makes flags arguments", []string{"--", conf, "--masquerade", "198.51.100.7"}, 2, ""},
		{"two files", []string{conf, "--masquerade", "198.51.100.7", conf}, 2, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(append([]string{"import-tayga"}, tc.args...)...)
			if code != tc.code || !strings.Contains(stdout, tc.want) {
				t.Errorf("exit %d, want %d; stdout:\n%s\nstderr:\n%s", code, tc.code, stdout, stderr)
			}
		})
	}
}

// TestOperatorConfig gives every command that talks to the control socket
// --config: each must take the socket from the file.
func TestOperatorConfig(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "elsewhere.sock")
	cfgPath := filepath.Join(dir, "nat64br.yaml")
	if err := os.WriteFile(cfgPath, []byte(demoConfig+"control-socket: "+sock+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range commands {
		if !c.operator {
			continue
		}
		n++
		t.Run(c.name, func(t *testing.T) {
			args := []string{c.name, "--config", cfgPath}
			if c.name == "trace" {
				args = append(args, "--pcap", filepath.Join(dir, "x.pcapng"))
			}
			code, _, stderr := runCLI(args...)
			if code != 1 || !strings.Contains(stderr, "cannot reach nat64br at "+sock) {
				t.Errorf("exit %d, stderr %q", code, stderr)
			}
		})
	}
	if n < 8 {
		t.Errorf("%d operator commands", n)
	}
}

// TestCommandTable checks the table itself: unique names, every flag
// once per command, placeholders where values are taken.
func TestCommandTable(t *testing.T) {
	var names []string
	for _, c := range commands {
		if slices.Contains(names, c.name) {
			t.Errorf("command %s twice", c.name)
		}
		names = append(names, c.name)
		if c.run == nil || c.summary == "" || c.about == "" || c.minArgs > c.maxArgs {
			t.Errorf("%s: incomplete: %+v", c.name, c)
		}
		var flags []string
		for _, f := range c.flags {
			if slices.Contains(flags, f.name) || f.name == "h" || f.name == "help" {
				t.Errorf("%s --%s twice, or shadows --help", c.name, f.name)
			}
			flags = append(flags, f.name)
			if (f.kind == flagBool) != (f.arg == "") || f.help == "" || (f.complete == completeValues) != (len(f.values) > 0) {
				t.Errorf("%s --%s: %+v", c.name, f.name, f)
			}
		}
		c.flagSet() // panics on a flag without a kind
	}
}

// TestCommandsReadTheirFlags runs the commands that TestOperatorConfig
// does not as far as a missing file: each reads its flags from the
// invocation first, which panics on a name the table does not define.
func TestCommandsReadTheirFlags(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	for name, args := range map[string][]string{
		"run":                   {"run", "--config", missing, "--log-level", "debug"},
		"replay":                {"replay", "--config", missing, "--out6", missing, "--out4", missing, "-q"},
		"check-config --config": {"check-config", "--config", missing},
		"check-config FILE":     {"check-config", missing},
		"import-tayga":          {"import-tayga", missing, "--ipv6-interface", "v6"},
	} {
		t.Run(name, func(t *testing.T) {
			if code, _, stderr := runCLI(args...); code != 1 || !strings.Contains(stderr, "no such file") {
				t.Errorf("exit %d: %s", code, stderr)
			}
		})
	}
}
