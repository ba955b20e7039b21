"""Activities that produce a score: quiz attempts graded by the server, the grade outbox and its delivery worker
(AGS line items, access tokens, scores), Names and Roles, and the instructor's grade view."""
