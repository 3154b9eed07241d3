"""Mail software on a host: smtpd, queue manager, retry policies, delivery agent, bounces, mailboxes."""
