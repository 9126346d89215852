# nat64br: make test (vet + race tests), make bench, make fuzz, sudo make demo.
GO        ?= go
BIN       := bin/nat64br
FUZZTIME  ?= 30s
CONFORMANCE ?= ../shared/conformance/run-conformance
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: all build test vet bench fuzz conformance demo clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $(BIN) ./cmd/nat64br

# The README's test command: vet, then every test with the race detector.
# Fuzz targets run their seed corpora here; tests that need root skip
# themselves unless run as root.
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Each fuzz target for FUZZTIME (go test -fuzz takes one target at a time).
fuzz:
	@set -e; for t in FuzzTranslate6to4 FuzzTranslate4to6 FuzzICMPErrors FuzzRoundTrip; do \
		echo "== xlat $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) ./xlat; done
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./config

# The packet corpus of the peer projects (kept outside this repository).
conformance: build
	$(CONFORMANCE) -t ./$(BIN) --modes siit -j 4

demo: build
	@echo "demo: the in-the-wire lab needs 'nat64br run' (AF_PACKET ports, ARP/ND), which is not built yet." >&2
	@echo "demo: meanwhile, replay a capture: ./$(BIN) replay --config testdata/golden/6to4-udp.yaml --in6 IN6.pcap --out6 o6.pcap --out4 o4.pcap" >&2
	@exit 1

clean:
	rm -rf bin
