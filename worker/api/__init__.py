"""The organisers' HTTP API (`onair api`): free/busy of every stream, their own bookings, the plan."""
