# Network services. Shared helper: the TLS client context for MQTT and Emoncms.


def tls_context():
    """TLS without certificate checks: the device has no CA store, so traffic is encrypted
    but the server is not authenticated (docs/mqtt.md, docs/emoncms.md)."""
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        ctx.check_hostname = False
    except AttributeError:
        pass
    ctx.verify_mode = ssl.CERT_NONE
    return ctx
