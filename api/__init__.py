"""HTTP and pages: the Litestar app, its controllers, authentication and the `fieldwork` command line."""
