// Package capturerun is the one dataset-capture path: it runs pcapsess live
// around some traffic and keeps the rows it writes, for every dataset builder
// (loopback, network namespaces, the delay line).
//
// # Contract
//
// A Launcher says where things run: the capture on the target side (its
// Iface), traffic commands on the scanner side, marker connections from
// MarkerSource to Target. Capture then
//
//  1. starts `pcapsess -i IFACE --format csv` there (plus --host filters and
//     -w when asked), never with a context that could SIGKILL it;
//  2. repeats a start marker (a connection attempt to a closed marker port of
//     the target) until that marker's row comes out of pcapsess: packets sent
//     before the socket opened are simply not seen, so this is the only proof
//     that capture runs;
//  3. runs the traffic callback, which may call Run.Sync: an end marker whose
//     row proves that every session idle before it has been written;
//  4. syncs once more and stops pcapsess with SIGINT (it writes its open
//     sessions and its summary), then reads the rest of its output.
//
// Marker rows are dropped. Every other row is passed to the Labeler, which
// sets its label and names its kind and source for the manifest, and then
// appended to a ClassFile; a capture is a range of lines of that file. If
// pcapsess ends on its own during the traffic, the traffic's context is
// cancelled at once (rows would be missing from the middle of the class) and
// Capture returns an error.
//
// One Manifest schema describes every data set: the network, the machine, the
// commands, and per capture its lines, rows per label, kind and source, the
// pcapsess summary (kernel drops) and the traffic commands.
package capturerun
