#!/usr/bin/python3
"""h5seal.py — re-seal a tern HDF5 file (training or deploy checkpoint) after
its body was modified, so that only tern's deeper checks stand between the
modification and the program.

A tern checkpoint starts with a 512-byte HDF5 user block holding a NUL-padded
text header (src/io/h5util.c, build_image):

    <magic line>          "tern-train checkpoint" or "tern-deploy model"
    version N
    bytes SIZE            the file's size
    crc32 XXXXXXXX        zlib's CRC-32 of every byte after the first 512

Re-sealing rewrites `bytes` and `crc32` for the file as it now is and keeps
the magic line and version. Standard library only.

    h5seal.py FILE            re-seal FILE in place
    h5seal.py FILE --check    exit 0 when the header matches the body
"""
import sys
import zlib

HEADER = 512


def header_fields(data):
    """(magic_line, version) of the header at data[:512]."""
    text = data[:HEADER].split(b"\0", 1)[0].decode("latin-1")
    lines = text.split("\n")
    version = 1
    for ln in lines[1:]:
        if ln.startswith("version "):
            try:
                version = int(ln.split()[1])
            except (IndexError, ValueError):
                pass
    return lines[0], version


def seal(data, magic=None, version=None):
    """data with its header rewritten for its current size and body CRC."""
    m, v = header_fields(data)
    magic = m if magic is None else magic
    version = v if version is None else version
    crc = zlib.crc32(data[HEADER:]) & 0xFFFFFFFF
    head = ("%s\nversion %d\nbytes %d\ncrc32 %08x\n" % (magic, version, len(data), crc)).encode("latin-1")
    return head.ljust(HEADER, b"\0")[:HEADER] + data[HEADER:]


def check(data):
    return seal(data) == data


def main(argv):
    if len(argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    with open(argv[1], "rb") as f:
        data = f.read()
    if len(argv) > 2 and argv[2] == "--check":
        return 0 if check(data) else 1
    with open(argv[1], "wb") as f:
        f.write(seal(data))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
