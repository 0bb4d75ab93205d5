extension RuntimeSpec {
  /// The Linux-specific configuration (`linux`).
  public struct Linux: Codable, Equatable, Sendable {
    /// Namespaces made or joined, by type (`linux.namespaces`).
    public var namespaces: [Namespace]?
    /// User IDs of a new user namespace, container to host (`linux.uidMappings`).
    public var uidMappings: [IDMapping]?
    /// Group IDs of a new user namespace, container to host (`linux.gidMappings`).
    public var gidMappings: [IDMapping]?
    /// Offsets of a new time namespace's clocks, by clock: `monotonic`, `boottime` (`linux.timeOffsets`).
    public var timeOffsets: [String: TimeOffset]?
    /// Device nodes made in the container (`linux.devices`).
    public var devices: [Device]?
    /// Host network devices moved into the container, by host name (`linux.netDevices`).
    public var netDevices: [String: NetDevice]?
    /// The container's cgroup, absolute or relative to the runtime's (`linux.cgroupsPath`).
    public var cgroupsPath: String?
    /// The cgroup limits (`linux.resources`).
    public var resources: Resources?
    /// The propagation of the root's mount: `shared`, `slave`, `private`, `unbindable` (`linux.rootfsPropagation`).
    public var rootfsPropagation: String?
    /// The system-call filter (`linux.seccomp`).
    public var seccomp: SeccompProfile?
    /// Kernel parameters set in the container, by /proc/sys name (`linux.sysctl`).
    public var sysctl: [String: String]?
    /// Paths inside the container hidden from it (`linux.maskedPaths`).
    public var maskedPaths: [String]?
    /// Paths inside the container made read-only (`linux.readonlyPaths`).
    public var readonlyPaths: [String]?
    /// The SELinux context of the container's mounts (`linux.mountLabel`).
    public var mountLabel: String?
    /// The Intel RDT class of service of the container (`linux.intelRdt`).
    public var intelRdt: IntelRdt?
    /// The execution domain, set with personality(2) (`linux.personality`).
    public var personality: Personality?

    public init(
      namespaces: [Namespace]? = nil, uidMappings: [IDMapping]? = nil, gidMappings: [IDMapping]? = nil,
      timeOffsets: [String: TimeOffset]? = nil, devices: [Device]? = nil, netDevices: [String: NetDevice]? = nil,
      cgroupsPath: String? = nil, resources: Resources? = nil, rootfsPropagation: String? = nil,
      seccomp: SeccompProfile? = nil, sysctl: [String: String]? = nil, maskedPaths: [String]? = nil,
      readonlyPaths: [String]? = nil, mountLabel: String? = nil, intelRdt: IntelRdt? = nil,
      personality: Personality? = nil
    ) {
      self.namespaces = namespaces
      self.uidMappings = uidMappings
      self.gidMappings = gidMappings
      self.timeOffsets = timeOffsets
      self.devices = devices
      self.netDevices = netDevices
      self.cgroupsPath = cgroupsPath
      self.resources = resources
      self.rootfsPropagation = rootfsPropagation
      self.seccomp = seccomp
      self.sysctl = sysctl
      self.maskedPaths = maskedPaths
      self.readonlyPaths = readonlyPaths
      self.mountLabel = mountLabel
      self.intelRdt = intelRdt
      self.personality = personality
    }

    /// A namespace the container makes, or joins when a path is given (an entry of `linux.namespaces`).
    public struct Namespace: Codable, Equatable, Sendable {
      /// `pid`, `network`, `mount`, `ipc`, `uts`, `user`, `cgroup` or `time` (`type`).
      public var type: String
      /// A namespace file to join, like `/proc/1234/ns/net` (`path`).
      public var path: String?

      public init(type: String, path: String? = nil) {
        self.type = type
        self.path = path
      }
    }

    /// A clock's offset in a new time namespace (a value of `linux.timeOffsets`).
    public struct TimeOffset: Codable, Equatable, Sendable {
      /// Whole seconds (`secs`).
      public var secs: Int64?
      /// Nanoseconds added to the seconds (`nanosecs`).
      public var nanosecs: UInt32?

      public init(secs: Int64? = nil, nanosecs: UInt32? = nil) {
        self.secs = secs
        self.nanosecs = nanosecs
      }
    }

    /// A device node made in the container (an entry of `linux.devices`).
    public struct Device: Codable, Equatable, Sendable {
      /// `c` or `u` (character), `b` (block) or `p` (FIFO) (`type`).
      public var type: String
      /// The node's absolute path in the container (`path`).
      public var path: String
      /// The device's major number, for every type but `p` (`major`).
      public var major: Int64?
      /// The device's minor number, for every type but `p` (`minor`).
      public var minor: Int64?
      /// The node's permission bits (`fileMode`).
      public var fileMode: UInt32?
      /// The node's owner in the container (`uid`).
      public var uid: UInt32?
      /// The node's group in the container (`gid`).
      public var gid: UInt32?

      public init(
        type: String, path: String, major: Int64? = nil, minor: Int64? = nil, fileMode: UInt32? = nil,
        uid: UInt32? = nil, gid: UInt32? = nil
      ) {
        self.type = type
        self.path = path
        self.major = major
        self.minor = minor
        self.fileMode = fileMode
        self.uid = uid
        self.gid = gid
      }
    }

    /// A host network device moved into the container (a value of `linux.netDevices`).
    public struct NetDevice: Codable, Equatable, Sendable {
      /// The device's name in the container, if not the host's (`name`).
      public var name: String?

      public init(name: String? = nil) { self.name = name }
    }

    /// The container's cgroup limits (`linux.resources`).
    public struct Resources: Codable, Equatable, Sendable {
      /// The device access rules, applied in order (`linux.resources.devices`).
      public var devices: [DeviceRule]?
      /// The memory controller's limits (`linux.resources.memory`).
      public var memory: Memory?
      /// The cpu and cpuset controllers' settings (`linux.resources.cpu`).
      public var cpu: CPU?
      /// The pids controller's limit (`linux.resources.pids`).
      public var pids: Pids?
      /// The blkio (io) controller's weights and throttles (`linux.resources.blockIO`).
      public var blockIO: BlockIO?
      /// The hugetlb controller's limits (`linux.resources.hugepageLimits`).
      public var hugepageLimits: [HugepageLimit]?
      /// The net_cls and net_prio controllers' settings (`linux.resources.network`).
      public var network: Network?
      /// The rdma controller's limits, by device name (`linux.resources.rdma`).
      public var rdma: [String: Rdma]?
      /// cgroup v2 files to write, by file name (`linux.resources.unified`).
      public var unified: [String: String]?

      public init(
        devices: [DeviceRule]? = nil, memory: Memory? = nil, cpu: CPU? = nil, pids: Pids? = nil,
        blockIO: BlockIO? = nil, hugepageLimits: [HugepageLimit]? = nil, network: Network? = nil,
        rdma: [String: Rdma]? = nil, unified: [String: String]? = nil
      ) {
        self.devices = devices
        self.memory = memory
        self.cpu = cpu
        self.pids = pids
        self.blockIO = blockIO
        self.hugepageLimits = hugepageLimits
        self.network = network
        self.rdma = rdma
        self.unified = unified
      }

      /// A device cgroup rule (an entry of `linux.resources.devices`).
      public struct DeviceRule: Codable, Equatable, Sendable {
        /// Whether the rule allows or denies (`allow`).
        public var allow: Bool
        /// `a` (all), `c` or `b`; all when absent (`type`).
        public var type: String?
        /// The major number; all when absent (`major`).
        public var major: Int64?
        /// The minor number; all when absent (`minor`).
        public var minor: Int64?
        /// Any of `r`, `w` and `m` (mknod) (`access`).
        public var access: String?

        public init(allow: Bool, type: String? = nil, major: Int64? = nil, minor: Int64? = nil, access: String? = nil) {
          self.allow = allow
          self.type = type
          self.major = major
          self.minor = minor
          self.access = access
        }
      }

      /// The memory controller's limits, in bytes (`linux.resources.memory`).
      public struct Memory: Codable, Equatable, Sendable {
        /// The hard limit of memory use (`limit`).
        public var limit: Int64?
        /// The soft limit of memory use (`reservation`).
        public var reservation: Int64?
        /// The limit of memory and swap together (`swap`).
        public var swap: Int64?
        /// The kernel-memory limit, deprecated (`kernel`).
        public var kernel: Int64?
        /// The kernel TCP-buffer limit, deprecated (`kernelTCP`).
        public var kernelTCP: Int64?
        /// How eagerly the kernel swaps, 0 to 100 (`swappiness`).
        public var swappiness: UInt64?
        /// Whether the OOM killer is off for the cgroup (`disableOOMKiller`).
        public var disableOOMKiller: Bool?
        /// Whether cgroup v1 hierarchical accounting is on (`useHierarchy`).
        public var useHierarchy: Bool?
        /// Whether an update below current use is refused (`checkBeforeUpdate`).
        public var checkBeforeUpdate: Bool?

        public init(
          limit: Int64? = nil, reservation: Int64? = nil, swap: Int64? = nil, kernel: Int64? = nil,
          kernelTCP: Int64? = nil, swappiness: UInt64? = nil, disableOOMKiller: Bool? = nil,
          useHierarchy: Bool? = nil, checkBeforeUpdate: Bool? = nil
        ) {
          self.limit = limit
          self.reservation = reservation
          self.swap = swap
          self.kernel = kernel
          self.kernelTCP = kernelTCP
          self.swappiness = swappiness
          self.disableOOMKiller = disableOOMKiller
          self.useHierarchy = useHierarchy
          self.checkBeforeUpdate = checkBeforeUpdate
        }
      }

      /// The cpu and cpuset controllers' settings (`linux.resources.cpu`).
      public struct CPU: Codable, Equatable, Sendable {
        /// The relative share of CPU time (`shares`).
        public var shares: UInt64?
        /// Microseconds of CPU time allowed per period (`quota`).
        public var quota: Int64?
        /// Microseconds of unused quota that may carry into a period (`burst`).
        public var burst: UInt64?
        /// The period of the quota, in microseconds (`period`).
        public var period: UInt64?
        /// Microseconds of real-time scheduling allowed per real-time period (`realtimeRuntime`).
        public var realtimeRuntime: Int64?
        /// The period of real-time scheduling, in microseconds (`realtimePeriod`).
        public var realtimePeriod: UInt64?
        /// The CPUs the container may run on, in cpuset list format (`cpus`).
        public var cpus: String?
        /// The memory nodes the container may use, in cpuset list format (`mems`).
        public var mems: String?
        /// Whether the cgroup uses SCHED_IDLE, 0 or 1 (`idle`).
        public var idle: Int64?

        public init(
          shares: UInt64? = nil, quota: Int64? = nil, burst: UInt64? = nil, period: UInt64? = nil,
          realtimeRuntime: Int64? = nil, realtimePeriod: UInt64? = nil, cpus: String? = nil, mems: String? = nil,
          idle: Int64? = nil
        ) {
          self.shares = shares
          self.quota = quota
          self.burst = burst
          self.period = period
          self.realtimeRuntime = realtimeRuntime
          self.realtimePeriod = realtimePeriod
          self.cpus = cpus
          self.mems = mems
          self.idle = idle
        }
      }

      /// The pids controller's limit (`linux.resources.pids`).
      public struct Pids: Codable, Equatable, Sendable {
        /// The most tasks the cgroup may hold; -1 or 0 for no limit (`limit`).
        public var limit: Int64

        public init(limit: Int64) { self.limit = limit }
      }

      /// The blkio (io) controller's weights and throttles (`linux.resources.blockIO`).
      public struct BlockIO: Codable, Equatable, Sendable {
        /// The cgroup's relative weight, 10 to 1000 (`weight`).
        public var weight: UInt16?
        /// The weight against the cgroup's children, 10 to 1000 (`leafWeight`).
        public var leafWeight: UInt16?
        /// Weights per device (`weightDevice`).
        public var weightDevice: [WeightDevice]?
        /// Read limits in bytes per second, per device (`throttleReadBpsDevice`).
        public var throttleReadBpsDevice: [ThrottleDevice]?
        /// Write limits in bytes per second, per device (`throttleWriteBpsDevice`).
        public var throttleWriteBpsDevice: [ThrottleDevice]?
        /// Read limits in operations per second, per device (`throttleReadIOPSDevice`).
        public var throttleReadIOPSDevice: [ThrottleDevice]?
        /// Write limits in operations per second, per device (`throttleWriteIOPSDevice`).
        public var throttleWriteIOPSDevice: [ThrottleDevice]?

        public init(
          weight: UInt16? = nil, leafWeight: UInt16? = nil, weightDevice: [WeightDevice]? = nil,
          throttleReadBpsDevice: [ThrottleDevice]? = nil, throttleWriteBpsDevice: [ThrottleDevice]? = nil,
          throttleReadIOPSDevice: [ThrottleDevice]? = nil, throttleWriteIOPSDevice: [ThrottleDevice]? = nil
        ) {
          self.weight = weight
          self.leafWeight = leafWeight
          self.weightDevice = weightDevice
          self.throttleReadBpsDevice = throttleReadBpsDevice
          self.throttleWriteBpsDevice = throttleWriteBpsDevice
          self.throttleReadIOPSDevice = throttleReadIOPSDevice
          self.throttleWriteIOPSDevice = throttleWriteIOPSDevice
        }

        /// A block device's weights (an entry of `blockIO.weightDevice`).
        public struct WeightDevice: Codable, Equatable, Sendable {
          /// The device's major number (`major`).
          public var major: Int64
          /// The device's minor number (`minor`).
          public var minor: Int64
          /// The weight on this device, 10 to 1000 (`weight`).
          public var weight: UInt16?
          /// The leaf weight on this device, 10 to 1000 (`leafWeight`).
          public var leafWeight: UInt16?

          public init(major: Int64, minor: Int64, weight: UInt16? = nil, leafWeight: UInt16? = nil) {
            self.major = major
            self.minor = minor
            self.weight = weight
            self.leafWeight = leafWeight
          }
        }

        /// A block device's rate limit (an entry of a `blockIO.throttle*Device` list).
        public struct ThrottleDevice: Codable, Equatable, Sendable {
          /// The device's major number (`major`).
          public var major: Int64
          /// The device's minor number (`minor`).
          public var minor: Int64
          /// The limit, in bytes or operations per second (`rate`).
          public var rate: UInt64

          public init(major: Int64, minor: Int64, rate: UInt64) {
            self.major = major
            self.minor = minor
            self.rate = rate
          }
        }
      }

      /// A hugetlb limit (an entry of `linux.resources.hugepageLimits`).
      public struct HugepageLimit: Codable, Equatable, Sendable {
        /// The page size, like `2MB` or `1GB` (`pageSize`).
        public var pageSize: String
        /// The most bytes of pages of that size (`limit`).
        public var limit: UInt64

        public init(pageSize: String, limit: UInt64) {
          self.pageSize = pageSize
          self.limit = limit
        }
      }

      /// The net_cls and net_prio controllers' settings (`linux.resources.network`).
      public struct Network: Codable, Equatable, Sendable {
        /// The net_cls class ID tagged on the container's packets (`classID`).
        public var classID: UInt32?
        /// The net_prio priorities, per interface (`priorities`).
        public var priorities: [InterfacePriority]?

        public init(classID: UInt32? = nil, priorities: [InterfacePriority]? = nil) {
          self.classID = classID
          self.priorities = priorities
        }

        /// An interface's traffic priority (an entry of `network.priorities`).
        public struct InterfacePriority: Codable, Equatable, Sendable {
          /// The interface's name (`name`).
          public var name: String
          /// The priority (`priority`).
          public var priority: UInt32

          public init(name: String, priority: UInt32) {
            self.name = name
            self.priority = priority
          }
        }
      }

      /// An RDMA device's limits (a value of `linux.resources.rdma`).
      public struct Rdma: Codable, Equatable, Sendable {
        /// The most HCA handles (`hcaHandles`).
        public var hcaHandles: UInt32?
        /// The most HCA objects (`hcaObjects`).
        public var hcaObjects: UInt32?

        public init(hcaHandles: UInt32? = nil, hcaObjects: UInt32? = nil) {
          self.hcaHandles = hcaHandles
          self.hcaObjects = hcaObjects
        }
      }
    }

    /// The container's Intel RDT class of service (`linux.intelRdt`).
    public struct IntelRdt: Codable, Equatable, Sendable {
      /// The resctrl group's name (`closID`).
      public var closID: String?
      /// The L3 cache schema, like `L3:0=ff` (`l3CacheSchema`).
      public var l3CacheSchema: String?
      /// The memory-bandwidth schema, like `MB:0=20` (`memBwSchema`).
      public var memBwSchema: String?
      /// Lines written as they are to the group's schemata file (`schemata`).
      public var schemata: [String]?
      /// Whether cache-monitoring counters are collected (`enableCMT`).
      public var enableCMT: Bool?
      /// Whether memory-bandwidth counters are collected (`enableMBM`).
      public var enableMBM: Bool?
      /// Whether a resctrl monitoring group is made for the container (`enableMonitoring`).
      public var enableMonitoring: Bool?

      public init(
        closID: String? = nil, l3CacheSchema: String? = nil, memBwSchema: String? = nil, schemata: [String]? = nil,
        enableCMT: Bool? = nil, enableMBM: Bool? = nil, enableMonitoring: Bool? = nil
      ) {
        self.closID = closID
        self.l3CacheSchema = l3CacheSchema
        self.memBwSchema = memBwSchema
        self.schemata = schemata
        self.enableCMT = enableCMT
        self.enableMBM = enableMBM
        self.enableMonitoring = enableMonitoring
      }
    }

    /// The execution domain, set with personality(2) (`linux.personality`).
    public struct Personality: Codable, Equatable, Sendable {
      /// `LINUX` or `LINUX32` (`domain`).
      public var domain: String
      /// Additional flags; none are defined yet (`flags`).
      public var flags: [String]?

      public init(domain: String, flags: [String]? = nil) {
        self.domain = domain
        self.flags = flags
      }
    }
  }
}
