"""The errors of the store extensions.

StoreError                 anything these stores refuse, with how to get going again
├── UnsupportedSourceError the as-of path cannot read this source (the stores fall back
│                          to stock Feast's code for it, so users rarely see this one)
└── OnlineLayoutError      the online table exists with columns these stores did not write
"""


class StoreError(Exception):
    pass


class UnsupportedSourceError(StoreError):
    pass


class OnlineLayoutError(StoreError):
    pass
