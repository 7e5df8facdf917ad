import AsyncHTTPClient
public enum ConnPlaceholder {}
