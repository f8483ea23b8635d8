"""The gate server: the web app, the hook API, the database and the services that write it."""
