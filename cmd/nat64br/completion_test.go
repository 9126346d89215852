package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestCompletionScripts prints each shell's script: every command and
// flag of the table is in it, and the shell, if installed, parses it.
func TestCompletionScripts(t *testing.T) {
	for _, tc := range []struct {
		shell string
		check []string // the shell's syntax check, run on the script's path
	}{
		{"bash", []string{"bash", "-n"}},
		{"zsh", []string{"zsh", "-n"}},
		{"fish", []string{"fish", "--no-execute"}},
	} {
		t.Run(tc.shell, func(t *testing.T) {
			code, script, stderr := runCLI("completion", tc.shell)
			if code != 0 || stderr != "" {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			for _, c := range commands {
				if !regexp.MustCompile(`\b` + regexp.QuoteMeta(c.name) + `\b`).MatchString(script) {
					t.Errorf("no command %s", c.name)
				}
				for _, f := range c.flags {
					if !strings.Contains(script, "--"+f.name) && !strings.Contains(script, "-l "+f.name+" ") {
						t.Errorf("no %s --%s", c.name, f.name)
					}
				}
			}
			if _, err := exec.LookPath(tc.check[0]); err != nil {
				t.Skipf("no %s to check the syntax with", tc.check[0])
			}
			path := filepath.Join(t.TempDir(), "nat64br."+tc.shell)
			if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(tc.check[0], append(tc.check[1:], path)...).CombinedOutput(); err != nil || len(out) > 0 {
				t.Errorf("%v: %v\n%s", tc.check, err, out)
			}
		})
	}
	if code, stdout, stderr := runCLI("completion", "tcsh"); code != 2 || stdout != "" || !strings.Contains(stderr, "bash, zsh or fish") {
		t.Errorf("completion tcsh: exit %d, %q, %q", code, stdout, stderr)
	}
}

// TestCompletionValues completes words with the scripts in bash and fish
// (when installed): commands, flags, the values of a flag.
func TestCompletionValues(t *testing.T) {
	dir := t.TempDir()
	for _, shell := range []string{"bash", "fish"} {
		_, script, _ := runCLI("completion", shell)
		if err := os.WriteFile(filepath.Join(dir, shell), []byte(script), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		line []string // the words; the last is the one completed
		want []string
	}{
		{"command", []string{"st"}, []string{"stats", "status"}},
		{"flag", []string{"bib", "--p"}, []string{"--proto"}},
		{"flag value", []string{"bib", "--proto", ""}, []string{"icmp", "tcp", "udp"}},
		{"drop reason", []string{"trace", "--reason", "drop_hop"}, []string{"drop_hop_limit_exceeded"}},
		{"shell", []string{"completion", ""}, []string{"bash", "fish", "zsh"}},
		{"flags after an argument", []string{"import-tayga", "tayga.conf", "--mas"}, []string{"--masquerade"}},
		{"csv", []string{"sessions", "--c"}, []string{"--config", "--csv"}},
	} {
		t.Run("bash "+tc.name, func(t *testing.T) {
			if _, err := exec.LookPath("bash"); err != nil {
				t.Skip("no bash")
			}
			words := append([]string{"nat64br"}, tc.line...)
			quoted := make([]string, len(words))
			for i, w := range words {
				quoted[i] = "'" + w + "'"
			}
			cmd := exec.Command("bash", "--norc", "-c", `source "$1"; COMP_WORDS=(`+strings.Join(quoted, " ")+`); COMP_CWORD=$2; _nat64br; printf '%s\n' "${COMPREPLY[@]}" | sort`,
				"-", filepath.Join(dir, "bash"), strconv.Itoa(len(words)-1))
			out, err := cmd.CombinedOutput()
			if got := strings.Fields(string(out)); err != nil || strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("%v: %q, want %q (%v)", tc.line, got, tc.want, err)
			}
		})
		t.Run("fish "+tc.name, func(t *testing.T) {
			if _, err := exec.LookPath("fish"); err != nil {
				t.Skip("no fish")
			}
			out, err := exec.Command("fish", "--no-config", "-c", `source $argv[1]; complete -C $argv[2] | cut -f1 | sort`,
				filepath.Join(dir, "fish"), "nat64br "+strings.Join(tc.line, " ")).CombinedOutput()
			if got := strings.Fields(string(out)); err != nil || strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("%v: %q, want %q (%v)", tc.line, got, tc.want, err)
			}
		})
	}
}

// TestManPage prints the man page: every command and flag is in it, and
// groff and man, if installed, find nothing to warn about.
func TestManPage(t *testing.T) {
	code, page, stderr := runCLI("man")
	if code != 0 || stderr != "" || !strings.HasPrefix(page, `.\" Generated`) || !strings.Contains(page, ".TH NAT64BR 8 ") {
		t.Fatalf("exit %d, %q\n%.200s", code, stderr, page)
	}
	for _, c := range commands {
		if !strings.Contains(page, ".SS "+c.name+"\n") {
			t.Errorf("no section for %s", c.name)
		}
		for _, f := range c.flags {
			if !strings.Contains(page, `\-\-`+f.name) {
				t.Errorf("no %s --%s", c.name, f.name)
			}
		}
	}
	path := filepath.Join(t.TempDir(), "nat64br.8")
	if err := os.WriteFile(path, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	checked := false
	for _, check := range [][]string{
		{"groff", "-man", "-ww", "-z", path},
		{"man", "--warnings", "-l", path},
	} {
		if _, err := exec.LookPath(check[0]); err != nil {
			continue
		}
		checked = true
		cmd := exec.Command(check[0], check[1:]...)
		cmd.Env = append(os.Environ(), "MANPAGER=cat", "PAGER=cat", "MANWIDTH=80")
		var warnings strings.Builder
		cmd.Stderr = &warnings
		if err := cmd.Run(); err != nil || warnings.Len() > 0 {
			t.Errorf("%v: %v\n%s", check, err, warnings.String())
		}
	}
	if !checked {
		t.Skip("neither groff nor man to check the page with")
	}
}
