package lab

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

// labMetrics is the demo configuration's metrics endpoint, inside the
// nat64br namespace.
const labMetrics = "127.0.0.1:9464"

// scrape fetches nat64br's metrics from inside its namespace and lints
// them. It returns the text and the linter's problems.
func (l *lab) scrape() ([]byte, []promlint.Problem, error) {
	cl := &http.Client{Transport: l.x.transport(&net.Dialer{Timeout: 5 * time.Second}), Timeout: 10 * time.Second}
	resp, err := cl.Get("http://" + labMetrics + "/metrics")
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	problems, err := promlint.New(bytes.NewReader(body)).Lint()
	return body, problems, err
}

// metricValue returns the value of the sample named exactly series (name
// and labels as the text format writes them), or -1.
func metricValue(text []byte, series string) float64 {
	for line := range bytes.Lines(text) {
		if rest, ok := bytes.CutPrefix(line, []byte(series+" ")); ok {
			if v, err := strconv.ParseFloat(string(bytes.TrimSpace(rest)), 64); err == nil {
				return v
			}
		}
	}
	return -1
}

func lintVerdict(err error, problems []promlint.Problem) string {
	switch {
	case err != nil:
		return err.Error()
	case len(problems) > 0:
		return fmt.Sprintf("lint: %v", problems)
	}
	return "passes the Prometheus linter"
}
