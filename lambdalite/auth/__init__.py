"""Authentication: SigV4 verification (``sigv4``), access keys (``keys``), their sealing
at rest (``secrets``) and the AWS-shaped refusals (``errors``)."""
