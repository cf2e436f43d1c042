package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	yml := filepath.Join(dir, "ipcs.yaml")
	os.WriteFile(yml, []byte("http: 127.0.0.1:9000\ndb: /tmp/x.db\n"), 0o600)
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("htp: 1\n"), 0o600)

	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
		check   func(Config) bool
	}{
		{"defaults", nil, nil, "", func(c Config) bool { return c.HTTP == "127.0.0.1:8080" && c.Demo && c.DB == "ipcs.db" }},
		{"file", []string{"-config", yml}, nil, "", func(c Config) bool { return c.HTTP == "127.0.0.1:9000" && c.DB == "/tmp/x.db" }},
		{"env over file", []string{"-config", yml}, map[string]string{"IPCS_HTTP": "127.0.0.1:9001"}, "", func(c Config) bool { return c.HTTP == "127.0.0.1:9001" }},
		{"flag over env", []string{"-config", yml, "-http", "127.0.0.1:9002"}, map[string]string{"IPCS_HTTP": "127.0.0.1:9001"}, "", func(c Config) bool { return c.HTTP == "127.0.0.1:9002" }},
		{"unknown file field", []string{"-config", bad}, nil, "htp", nil},
		{"bad http", []string{"-http", "nonsense"}, nil, "config: http", nil},
		{"bad trunk", []string{"-trunk", "127.0.0.1:5070"}, nil, "config: trunk", nil},
		{"bad log level", []string{"-log-level", "loud"}, nil, "config: log_level", nil},
		{"bad env bool", nil, map[string]string{"IPCS_DEMO": "perhaps"}, "IPCS_DEMO", nil},
		{"bad grace", []string{"-shutdown-grace", "0s"}, nil, "config: shutdown_grace", nil},
		{"empty db", []string{"-db", ""}, nil, "config: db", nil},
		{"max calls", []string{"-max-calls", "6000"}, nil, "", func(c Config) bool { return c.MaxCalls == 6000 }},
		{"max calls env", nil, map[string]string{"IPCS_MAX_CALLS": "7000"}, "", func(c Config) bool { return c.MaxCalls == 7000 }},
		{"bad max calls", []string{"-max-calls", "-1"}, nil, "config: max_calls", nil},
		{"bad max calls env", nil, map[string]string{"IPCS_MAX_CALLS": "many"}, "IPCS_MAX_CALLS", nil},
		{"missing file", []string{"-config", filepath.Join(dir, "none.yaml")}, nil, "no such file", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadConfig(tt.args, func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(cfg) {
				t.Fatalf("config %+v does not match", cfg)
			}
		})
	}
	if d := defaults().ShutdownGrace; d != 10*time.Second {
		t.Fatalf("default grace %v", d)
	}
}
