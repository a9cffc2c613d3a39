package ota

import "errors"

// Errors returned by the codec. Decoders wrap them with the field at fault,
// so callers test them with errors.Is.
var (
	ErrShort        = errors.New("ota: packet too short")
	ErrTooLong      = errors.New("ota: packet too long")
	ErrLength       = errors.New("ota: CPL/RPL does not match the packet length")
	ErrHeaderLength = errors.New("ota: CHL/RHL does not match the algorithm")
	ErrBlockSize    = errors.New("ota: ciphered length is not a multiple of the block size")
	ErrPadding      = errors.New("ota: PCNTR larger than the data")
	ErrChecksum     = errors.New("ota: RC/CC mismatch")
	ErrSPI          = errors.New("ota: reserved SPI coding")
	ErrAlgorithm    = errors.New("ota: unsupported or reserved algorithm")
	ErrKey          = errors.New("ota: key length does not fit the algorithm")
	ErrCounter      = errors.New("ota: counter out of range")
	ErrCounterLow   = errors.New("ota: CNTR low")
	ErrCounterHigh  = errors.New("ota: CNTR high")
	ErrCounterBlock = errors.New("ota: CNTR blocked")
	ErrMismatch     = errors.New("ota: packet header does not match the codec")
)
