"""The daily report: Altair chart definitions, the HTML template and the email body."""
