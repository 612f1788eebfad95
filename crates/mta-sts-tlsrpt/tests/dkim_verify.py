#!/usr/bin/env python3
"""Verifies the DKIM signature of the message on standard input with dkimpy, an independent
verifier, the key record given on the command line instead of DNS:

    dkim_verify.py SELECTOR._domainkey.DOMAIN 'v=DKIM1; k=rsa; s=tlsrpt; p=...' < message

Exit 0 and `pass` when the signature verifies, exit 1 and `fail` (with dkimpy's reason) when not.
"""
import sys

import dkim


def main():
    name, record = sys.argv[1], sys.argv[2]
    message = sys.stdin.buffer.read()

    def dnsfunc(qname, timeout=5):
        wanted = qname.decode() if isinstance(qname, bytes) else qname
        if wanted.rstrip(".").lower() == name.rstrip(".").lower():
            return record.encode()
        return None

    # tlsrpt="strict": dkimpy's RFC 8460 §3 mode, which also refuses a key record without
    # the `s=tlsrpt` service type.
    verifier = dkim.DKIM(message, tlsrpt="strict")
    try:
        ok = verifier.verify(dnsfunc=dnsfunc)
    except dkim.DKIMException as e:
        print("fail:", e)
        return 1
    if ok:
        print("pass")
        return 0
    print("fail: signature did not verify")
    return 1


if __name__ == "__main__":
    sys.exit(main())
