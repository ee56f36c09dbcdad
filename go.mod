module scanwatch

go 1.26.0

require (
	github.com/alecthomas/kong v1.17.0
	github.com/dmitryikh/leaves v0.0.0-20230708180554-25d19a787328
	github.com/gopacket/gopacket v1.7.7
	golang.org/x/net v0.55.0
	golang.org/x/term v0.48.0
	gonum.org/v1/gonum v0.17.0
)

require golang.org/x/sys v0.50.0 // indirect
