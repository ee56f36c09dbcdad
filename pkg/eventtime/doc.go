// Package eventtime merges rows from several streams (the sensors of a
// bus) into one stream in packet time, for a rule that needs its rows in
// the order their sessions ended.
//
// Each sensor's rows arrive roughly in packet time, but sensors are not in
// step with each other, and a broker interleaves them by arrival. A Merger
// holds rows and hands them out oldest first once the watermark has passed
// them. Each stream (a sensor: the rows' sensor column) has a time, the
// latest it has shown (a row's end, or its clock from a heartbeat); the
// watermark is the earliest of those times minus the allowed lateness, so
// that a sensor running behind (its messages stored late after a broker
// node died) holds the others back instead of finding its rows late. A
// stream that lags the latest by more than the idle time (a sensor that
// stopped) is left out, so that it cannot hold everything back forever.
// Its contract:
//
//   - Rows leave in (end time, arrival) order. Two runs that add the same
//     rows and clocks in the same order release the same rows in the same
//     order: the merge depends on the input sequence only, never on the
//     wall clock, so replaying a broker's log gives what the live run gave.
//   - A row that arrives after rows later than it have left (its end is
//     before the watermark already released to) is late: it is counted
//     (Stats.Late) and handed out at the next Release, never dropped. Long
//     sessions that pcapsess writes only when they go idle are late by
//     nature; a sensor whose clock lags the others by more than the
//     lateness makes its rows late.
//   - At most MaxHeld rows are held: past it the oldest leaves before the
//     watermark passes it (counted, Stats.Forced).
//   - Drain hands out every row held, in order: the end of every stream.
//
// Each row carries a value of the caller's (the message it came in, to
// acknowledge once all of its rows have left).
package eventtime
