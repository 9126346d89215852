# nat64br: make test (vet + race tests), make bench, make fuzz, sudo make demo.
# sudo resets PATH (secure_path), which rarely holds Go: fall back to its usual home.
GO        ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
BIN       := bin/nat64br
FUZZTIME  ?= 30s
FUZZFLAGS ?=
CONFORMANCE ?= ../shared/conformance/run-conformance
# The version nat64br reports: git describe (v0.1.0, v0.1.0-3-gabc1234-dirty,
# or abc1234 before the first tag). Outside a git checkout it is empty and the
# binary takes its version from Go's build information (see cmd/nat64br/version.go).
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null)

.PHONY: all build cross test soak vet bench bench-lab flood-lab fuzz conformance demo demo-bgp clean install uninstall check-unit image measure-control

# make install: the binary, the systemd unit, the nat64br user's
# sysusers.d entry and (unless one is there) the example configuration.
# DESTDIR stages it for packaging (and then systemd-sysusers is not run);
# make dist stages with BINDIR=/usr/sbin UNITDIR=/usr/lib/systemd/system.
PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
DESTDIR   ?=
UNITDIR   ?= /etc/systemd/system
SYSUSERSDIR ?= /etc/sysusers.d

all: build

# TAGS=nobgp leaves the embedded BGP speaker (GoBGP) out: a smaller
# binary for small targets (docs/deployment.md, "With BGP").
TAGS ?=
build:
	CGO_ENABLED=0 $(GO) build -tags '$(TAGS)' -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $(BIN) ./cmd/nat64br

# Shell completions (bash, zsh, fish) and the man page nat64br(8), written by
# the binary from its command table (cmd/nat64br/cli.go) into GENDIR, for
# packaging: GENDIR/completions/{nat64br,_nat64br,nat64br.fish}, GENDIR/man/nat64br.8.
GENDIR    ?= bin
.PHONY: completions man
completions: build
	mkdir -p $(GENDIR)/completions
	./$(BIN) completion bash > $(GENDIR)/completions/nat64br
	./$(BIN) completion zsh > $(GENDIR)/completions/_nat64br
	./$(BIN) completion fish > $(GENDIR)/completions/nat64br.fish

man: build
	mkdir -p $(GENDIR)/man
	./$(BIN) man > $(GENDIR)/man/nat64br.8

# Every Linux architecture Go supports that a router or homelab box may
# be: the whole module, tests included, must compile for each. 32-bit ARM
# is ARMv7 (GOARM=7), MIPS soft-float (GOMIPS=softfloat: most MIPS routers
# have no FPU); each setting only touches its own architecture.
CROSS_ARCHS ?= amd64 386 arm arm64 riscv64 loong64 mips mipsle mips64 mips64le ppc64le s390x
CROSS_ENV   := GOOS=linux CGO_ENABLED=0 GOARM=7 GOMIPS=softfloat GOMIPS64=softfloat
cross:
	@set -e; for a in $(CROSS_ARCHS); do echo "== linux/$$a"; \
		$(CROSS_ENV) GOARCH=$$a $(GO) build -o /dev/null ./... ; \
		$(CROSS_ENV) GOARCH=$$a $(GO) vet ./... ; done

# The tests of the packages with architecture-specific code (struct
# layouts handed to the kernel, raw system calls) as a 32-bit program:
# 386 runs on amd64 without emulation (as root, wire's netns tests too).
.PHONY: test-386
test-386:
	GOARCH=386 CGO_ENABLED=0 $(GO) test -count=1 ./wire/... ./dataplane/...

# The build without the BGP speaker (-tags nobgp) compiles, vets, and
# refuses a configuration with a bgp section.
.PHONY: test-nobgp
test-nobgp:
	$(GO) vet -tags nobgp ./cmd/nat64br
	$(GO) test -tags nobgp -count=1 -run '^(TestNoBGP|TestImportTable)$$' ./cmd/nat64br

# Release files in dist/ for each of DIST_ARCHS: a static binary tarball
# and a .deb (nfpm, a Go tool dependency: go tool nfpm), named with the
# Debian form of VERSION (contrib/dist.sh).
DIST_ARCHS ?= amd64 arm64 arm riscv64 mipsle 386
.PHONY: dist
dist:
	GO=$(GO) VERSION=$(VERSION) contrib/dist.sh $(DIST_ARCHS)

# The container image from the binary built here (no registry or network
# needed; see contrib/container/Dockerfile.prebuilt), with podman if it is
# installed, else docker (CONTAINER=docker to choose). IMAGE names it;
# bin/image/ holds the empty directories it copies in; IMAGEFLAGS go to
# the build (e.g. --layers=false: podman keeps no intermediate images).
IMAGE     ?= nat64br
IMAGEFLAGS ?=
CONTAINER ?= $(shell command -v podman >/dev/null 2>&1 && echo podman || echo docker)
REVISION  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
image: build
	rm -rf bin/image
	install -d -m 0755 bin/image/root/var/lib bin/image/root/run
	install -d -m 0700 bin/image/own/nat64br
	$(CONTAINER) build -f contrib/container/Dockerfile.prebuilt \
		--build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) $(IMAGEFLAGS) -t $(IMAGE) .

# The unit runs as the nat64br user, which must read the configuration:
# it is installed mode 0644 (it holds no secrets).
install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/nat64br
	sed 's|/usr/local/bin/nat64br|$(BINDIR)/nat64br|g' contrib/nat64br.service > nat64br.service.tmp
	install -D -m 0644 nat64br.service.tmp $(DESTDIR)$(UNITDIR)/nat64br.service
	rm -f nat64br.service.tmp
	install -D -m 0644 contrib/nat64br.sysusers $(DESTDIR)$(SYSUSERSDIR)/nat64br.conf
	install -d -m 0755 $(DESTDIR)/etc/nat64br
	test -e $(DESTDIR)/etc/nat64br/nat64br.yaml || install -m 0644 contrib/nat64br.yaml $(DESTDIR)/etc/nat64br/nat64br.yaml
	@if [ -z "$(DESTDIR)" ] && command -v systemd-sysusers >/dev/null 2>&1; then systemd-sysusers $(SYSUSERSDIR)/nat64br.conf; \
	elif [ -z "$(DESTDIR)" ]; then echo "no systemd-sysusers: create the nat64br system user yourself"; fi
	@echo "installed; edit /etc/nat64br/nat64br.yaml, then: systemctl daemon-reload && systemctl enable --now nat64br"

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/nat64br $(DESTDIR)$(UNITDIR)/nat64br.service $(DESTDIR)$(SYSUSERSDIR)/nat64br.conf
	@echo "left /etc/nat64br and the nat64br user in place"

# systemd-analyze verify on the unit as installed (needs systemd's tools).
# With DESTDIR, a copy whose commands point into DESTDIR is checked (verify
# wants them executable). It exits 0 on some problems it prints, so any
# output fails the check.
check-unit:
	@tmp=$$(mktemp -d); sed 's|$(BINDIR)/nat64br|$(DESTDIR)$(BINDIR)/nat64br|g' $(DESTDIR)$(UNITDIR)/nat64br.service > $$tmp/nat64br.service; \
	out=$$(systemd-analyze verify $$tmp/nat64br.service 2>&1); rm -rf $$tmp; \
	if [ -n "$$out" ]; then echo "$$out"; echo "systemd-analyze verify: the unit has problems"; exit 1; fi; \
	echo "systemd-analyze verify: $(DESTDIR)$(UNITDIR)/nat64br.service is fine"

# The README's test command: vet, then every test with the race detector.
# Fuzz targets run their seed corpora here; tests that need root skip
# themselves unless run as root (as root, the lab's TestLab takes about
# 8 minutes, 3 of them a UDP stream, and TestSoak a minute and a half:
# hence the timeout). The session memory tests run without the race
# detector, which would make them take minutes, and so does the lab's
# flood pass (about 40 s as root), whose memory it would swamp.
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 25m ./...
	$(GO) test -count=1 -run '^(TestMillionSessions|TestSessionBytes)$$' -v ./xlat
	$(GO) test -count=1 -run '^TestFlood$$' ./cmd/nat64br/internal/lab

# The long soak (needs root): the lab under mixed traffic, malformed frames
# and reloads for SOAK, then every frame read must be accounted for per
# port, and nat64br's resident memory must have stayed flat (make test
# runs it for a minute); SOAKMODE=nat64 soaks stateful NAT64. See
# docs/testing.md.
SOAK      ?= 10m
SOAKMODE  ?= siit
soak:
	$(GO) test -count=1 -run '^TestSoak$$' -timeout 30m -v ./cmd/nat64br/internal/lab -soak.duration $(SOAK) -soak.mode $(SOAKMODE)

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }

# The flood lab (needs root, about 4 minutes): nat64br in a 256 MiB memory
# cgroup flooded with new flows from spoofed sources while a client pings
# and downloads, from 3 /64s and from 1,048,576, with the limits sized to
# the cgroup and with main's fixed ones (docs/performance.md, "Floods").
# FLOOD and FLOODRATE set each flood's length and new flows a second;
# FLOODMAIN=path runs the last flood with that nat64br binary (main's).
FLOOD ?= 60s
FLOODRATE ?= 20000
FLOODMAIN ?=
flood-lab:
	$(GO) test -count=1 -timeout 30m -run '^TestFlood$$' -v ./cmd/nat64br/internal/lab -lab.floodall -lab.flood=$(FLOOD) -lab.floodrate=$(FLOODRATE) -lab.floodmain=$(FLOODMAIN)

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# The neighbor flood (issue 23; needs root): 1,000,000 distinct on-link
# IPv6 sources at the generator's full rate for FLOOD_TIME, then
# Neighbor Solicitations from 300,000 sources, while the lab's client
# pings and downloads through nat64br and a new client downloads too
# (cmd/nat64br/internal/lab TestNeighborFlood; make test runs a short one).
# FLOODFLAGS adds flags, e.g. -flood.nat64br=OTHER -flood.limits=false to
# measure a binary that predates the limits. CPU profiles land in bin/.
FLOOD_TIME ?= 30s
FLOODFLAGS ?=
.PHONY: flood
flood:
	mkdir -p bin
	$(GO) test -count=1 -timeout 30m -run '^TestNeighborFlood$$' -v ./cmd/nat64br/internal/lab -args \
		-flood.sources=1000000 -flood.rate=0 -flood.duration=$(FLOOD_TIME) -flood.http=104857600 -flood.profile=$(CURDIR)/bin/flood-udp.pprof $(FLOODFLAGS)
	$(GO) test -count=1 -timeout 30m -run '^TestNeighborFlood$$' -v ./cmd/nat64br/internal/lab -args \
		-flood.ns -flood.sources=300000 -flood.rate=0 -flood.duration=$(FLOOD_TIME) -flood.http=104857600 -flood.profile=$(CURDIR)/bin/flood-ns.pprof $(FLOODFLAGS)

# The netns lab that puts nat64br (SIIT and NAT64) beside TAYGA + MASQUERADE,
# kernel forwarding and AF_PACKET copy loops (needs root; installs iperf3,
# tayga, ethtool, nftables, jq itself). BENCH_VARIANTS, ON_VARIANTS, DUR and
# REPS tune it (see bench/lab.sh); the report lands in bench/results/.
bench-lab:
	GO=$(GO) bench/lab.sh bench

# The control plane's bounds (docs/operation.md, "Bounds"): 100 parallel
# 'sessions --json' over 1 M sessions, and 19,900 connections to the
# metrics endpoint. Minutes, and gigabytes on unbounded code.
measure-control: build
	NAT64BR_MEASURE=1 NAT64BR_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -v -timeout 30m \
		-run 'TestMeasureListings|TestMeasureMetricsConns' ./cmd/nat64br/

# Each fuzz target of every package for FUZZTIME (go test -fuzz takes one
# target at a time); go test -list finds them, so a new one runs without
# being named here. FUZZFLAGS adds flags, such as -parallel 1 on a shared
# machine.
fuzz:
	@set -e; for p in $$($(GO) list ./...); do \
		for t in $$($(GO) test -list '^Fuzz' $$p | grep '^Fuzz' || true); do \
			echo "== $$p $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $(FUZZFLAGS) $$p; done; done

# The packet corpus of the peer projects (kept outside this repository).
conformance: build
	$(CONFORMANCE) -t ./$(BIN) -j 4

# The network-namespace lab (needs root, Go and iproute2): an IPv6-only
# client reaches an IPv4-only server through nat64br, and back. The driver
# (cmd/nat64br/internal/lab) runs bin/nat64br as an operator would; its
# flags may go in DEMOFLAGS (e.g. DEMOFLAGS=--garbage=60s).
DEMO      := bin/nat64br-demo
demo: build
	$(GO) build -o $(DEMO) ./cmd/nat64br/internal/lab/demo
	./$(DEMO) --nat64br ./$(BIN) $(DEMOFLAGS)

# The BGP ECMP pass alone, with its failover figures: two nat64br boxes behind
# a BIRD 2 router (apt-get install bird2), SIGTERM and kill -9 of one under
# traffic, BGPREPS times each (docs/demo.md).
BGPREPS   ?= 5
demo-bgp: build
	$(GO) build -o $(DEMO) ./cmd/nat64br/internal/lab/demo
	./$(DEMO) --nat64br ./$(BIN) --passes 14 --bgp-reps $(BGPREPS) $(DEMOFLAGS)

clean:
	rm -rf bin
	rm -rf dist
