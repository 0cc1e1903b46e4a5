/* SPDX-License-Identifier: MIT */
/* libgreen: gevent-style green threads for C. The one header to include. */
#ifndef GREEN_H
#define GREEN_H

#include "green/version.h"
#include "green/common.h"
#include "green/error.h"
#include "green/greenlet.h"
#include "green/task.h"
#include "green/hubs.h"
#include "green/io.h"
#include "green/timeout.h"
#include "green/event.h"
#include "green/future.h"
#include "green/queue.h"
#include "green/lock.h"
#include "green/gather.h"
#include "green/pool.h"
#include "green/dns.h"
#include "green/patch.h"
#include "green/log.h"
#include "green/threadpool.h"
#include "green/dump.h"

#endif
