"""The error tree users catch: everything derives from ProfileStoreError."""


class ProfileStoreError(Exception):
    """Root of every error profilestore raises on purpose."""


class InvalidKeyError(ProfileStoreError, ValueError):
    """A store name or profile key of the wrong length."""


class DataError(ProfileStoreError, ValueError):
    """Data, metadata or a message that cannot be saved; the text names the path."""


class StoreClosedError(ProfileStoreError):
    """The engine is closed, so the call has no value to return."""


class SessionLostError(ProfileStoreError):
    """This server no longer holds the profile's session."""
