"""An S3-compatible object store on lambdalite's port (rest-xml, botocore's S3 model).

front      addressing, rest-xml in and out, streamed bodies: the router's service
service    buckets and objects as typed operation handlers
multipart  multipart uploads
listing    ListObjects(V2) pages: prefixes, delimiters, continuation
payload    request bodies, plain or aws-chunked with trailing checksums
bodies     object bytes to temporary files and back, with MD5s and checksums
checksums  CRC32, CRC32C, CRC64NVME, SHA1, SHA256
errors     S3's error codes, messages and details
"""

from lambdalite.services.s3.front import HOST_MARK, S3Front

SIGNING_NAME = "s3"

__all__ = ["HOST_MARK", "SIGNING_NAME", "S3Front"]
