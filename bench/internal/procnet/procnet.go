// Package procnet reads the Linux kernel's network counters that the load
// benchmarks report beside their own figures.
package procnet

import (
	"os"
	"strconv"
	"strings"
)

// UDPRcvbufErrors is the machine's count of UDP datagrams dropped because
// a socket's receive buffer was full (/proc/net/snmp, Udp RcvbufErrors):
// on loopback, the datagrams a slow receiver lost. It is machine-wide,
// so it counts every process's drops; ok is false when unreadable.
func UDPRcvbufErrors() (n int64, ok bool) {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return 0, false
	}
	var head []string
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Udp:" {
			continue
		}
		if head == nil {
			head = f
			continue
		}
		for i, name := range head {
			if name == "RcvbufErrors" && i < len(f) {
				n, err := strconv.ParseInt(f[i], 10, 64)
				return n, err == nil
			}
		}
	}
	return 0, false
}
